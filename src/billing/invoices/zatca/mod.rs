//! ZATCA e-invoicing, phase 2: every invoice and credit note is a UBL document with ZATCA's
//! extensions (`document`), written in canonical form (`xml`), chained to the one before it
//! by hash with a gapless counter (`chain`), stamped with the taxpayer's key (`stamp`),
//! carried in a QR code of nine TLV fields, and reported to ZATCA (`report`).

pub mod chain;
pub mod document;
pub mod onboard;
pub mod report;
pub mod stamp;
pub mod xml;

use base64::Engine;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ZATCA QR field {tag} is {len} bytes; at most 255 fit")]
pub struct FieldTooLong {
    pub tag: u8,
    pub len: usize,
}

/// The QR payload: tag (1 byte), length (1 byte: the value's length in bytes), value, for
/// tags 1, 2, ... in order, concatenated and base64-encoded.
pub fn tlv(fields: &[&[u8]]) -> Result<String, FieldTooLong> {
    let mut bytes = Vec::new();
    for (tag, value) in (1u8..).zip(fields) {
        let len = u8::try_from(value.len()).map_err(|_| FieldTooLong {
            tag,
            len: value.len(),
        })?;
        bytes.extend([tag, len]);
        bytes.extend(*value);
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The payload drawn as a QR code, an SVG document to inline in the printable invoice.
pub fn qr_svg(payload: &str) -> String {
    match qrcode::QrCode::new(payload.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(160, 160)
            .quiet_zone(true)
            .build(),
        // Nine fields of at most 255 bytes, base64: under 3 KB, within a QR code's 2,953 bytes
        // only when they are short, as ZATCA's are (a few hundred bytes).
        Err(error) => format!("<!-- QR code: {error} -->"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_zatca_guideline_example() {
        let fields: [&[u8]; 5] = [
            b"Bobs Records",
            b"310122393500003",
            b"2022-04-25T15:30:00Z",
            b"1000.00",
            b"150.00",
        ];
        assert_eq!(
            tlv(&fields).unwrap(),
            "AQxCb2JzIFJlY29yZHMCDzMxMDEyMjM5MzUwMDAwMwMUMjAyMi0wNC0yNVQxNTozMDowMFoEBzEwMDAuMDAFBjE1MC4wMA=="
        );
    }

    #[test]
    fn an_arabic_seller_name_is_measured_in_bytes_not_characters() {
        let seller = "مكتب وسيط للخدمات الإلكترونية"; // 29 characters, 55 bytes
        let fields: [&[u8]; 5] = [
            seller.as_bytes(),
            b"310122393500003",
            b"2026-11-28T18:30:00Z",
            b"478.75",
            b"3.75",
        ];
        // Computed independently with Python (bytes([tag, len(v.encode())]) + v.encode()).
        assert_eq!(
            tlv(&fields).unwrap(),
            "ATfZhdmD2KrYqCDZiNiz2YrYtyDZhNmE2K7Yr9mF2KfYqiDYp9mE2KXZhNmD2KrYsdmI2YbZitipAg8zMTAxMjIzOTM1MDAwMDMDFDIwMjYtMTEtMjhUMTg6MzA6MDBaBAY0NzguNzUFBDMuNzU="
        );
    }

    #[test]
    fn a_field_over_255_bytes_is_refused() {
        let long = "م".repeat(128); // 256 bytes
        assert_eq!(
            tlv(&[long.as_bytes()]),
            Err(FieldTooLong { tag: 1, len: 256 })
        );
    }

    #[test]
    fn the_qr_code_is_an_svg_image() {
        let svg = qr_svg("AQxCb2JzIFJlY29yZHM=");
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{svg}");
    }
}
