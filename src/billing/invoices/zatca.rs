//! The ZATCA phase-1 QR code of a simplified tax invoice: five TLV fields (tag 1 byte,
//! length 1 byte = the value's UTF-8 byte length, value), concatenated, base64-encoded,
//! drawn as a QR code.

use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ZATCA QR field {tag} is {len} bytes; at most 255 fit")]
pub struct FieldTooLong {
    pub tag: u8,
    pub len: usize,
}

/// The base64 TLV payload: seller name, VAT number, time of issue, total with VAT, VAT.
pub fn qr_payload(
    seller_name: &str,
    vat_number: &str,
    issued_at: DateTime<Utc>,
    total_with_vat: Decimal,
    vat_total: Decimal,
) -> Result<String, FieldTooLong> {
    let fields = [
        seller_name.to_owned(),
        vat_number.to_owned(),
        issued_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        format!("{:.2}", total_with_vat),
        format!("{:.2}", vat_total),
    ];
    let mut bytes = Vec::new();
    for (tag, value) in (1u8..).zip(&fields) {
        let len = u8::try_from(value.len()).map_err(|_| FieldTooLong {
            tag,
            len: value.len(),
        })?;
        bytes.extend([tag, len]);
        bytes.extend(value.as_bytes());
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
        // A payload of 5 fields of at most 255 bytes always fits a QR code.
        Err(error) => format!("<!-- QR code: {error} -->"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rust_decimal::dec;

    #[test]
    fn matches_the_zatca_guideline_example() {
        let at = Utc.with_ymd_and_hms(2022, 4, 25, 15, 30, 0).unwrap();
        assert_eq!(
            qr_payload("Bobs Records", "310122393500003", at, dec!(1000), dec!(150)).unwrap(),
            "AQxCb2JzIFJlY29yZHMCDzMxMDEyMjM5MzUwMDAwMwMUMjAyMi0wNC0yNVQxNTozMDowMFoEBzEwMDAuMDAFBjE1MC4wMA=="
        );
    }

    #[test]
    fn an_arabic_seller_name_is_measured_in_bytes_not_characters() {
        let seller = "مكتب وسيط للخدمات الإلكترونية"; // 29 characters, 55 bytes
        let at = Utc.with_ymd_and_hms(2026, 11, 28, 18, 30, 0).unwrap();
        let payload = qr_payload(seller, "310122393500003", at, dec!(478.75), dec!(3.75)).unwrap();
        // Computed independently with Python (bytes([tag, len(v.encode())]) + v.encode()).
        assert_eq!(
            payload,
            "ATfZhdmD2KrYqCDZiNiz2YrYtyDZhNmE2K7Yr9mF2KfYqiDYp9mE2KXZhNmD2KrYsdmI2YbZitipAg8zMTAxMjIzOTM1MDAwMDMDFDIwMjYtMTEtMjhUMTg6MzA6MDBaBAY0NzguNzUFBDMuNzU="
        );
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(payload)
            .unwrap();
        assert_eq!((bytes[0], bytes[1]), (1, 55));
        assert_eq!(std::str::from_utf8(&bytes[2..57]).unwrap(), seller);
    }

    #[test]
    fn a_field_over_255_bytes_is_refused() {
        let long = "م".repeat(128); // 256 bytes
        assert_eq!(
            qr_payload(&long, "310122393500003", Utc::now(), dec!(1), dec!(0)),
            Err(FieldTooLong { tag: 1, len: 256 })
        );
    }

    #[test]
    fn the_qr_code_is_an_svg_image() {
        let svg = qr_svg("AQxCb2JzIFJlY29yZHM=");
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{svg}");
    }
}
