//! How many SMS parts a text costs. A text every character of which is in the GSM 03.38
//! alphabet goes as GSM-7: 160 septets alone, 153 per part once split (the rest is the
//! concatenation header); the extension table (`^{}\[~]|€` and form feed) takes two septets
//! each. Anything else (Arabic, emoji, our bidi isolates) goes as UCS-2: 70 UTF-16 code units
//! alone, 67 per part, so an emoji outside the BMP counts two. A part never splits an
//! extension character's escape pair or a surrogate pair, as handsets would not join them.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gsm7 => "gsm7",
            Self::Ucs2 => "ucs2",
        }
    }

    /// Units one message holds alone, and per part of a split one.
    fn capacity(self) -> (usize, usize) {
        match self {
            Self::Gsm7 => (160, 153),
            Self::Ucs2 => (70, 67),
        }
    }
}

/// What a text costs to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Segments {
    pub encoding: Encoding,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2).
    pub units: usize,
    /// Parts billed: at least one.
    pub parts: usize,
}

/// GSM 03.38's basic alphabet (the escape itself excluded).
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// Its extension table: each is sent as escape + character.
const GSM_EXTENSION: &str = "^{}\\[~]|€\u{000C}";

/// Septets `c` takes in GSM-7, or `None` when it is not in the alphabet.
fn gsm_septets(c: char) -> Option<usize> {
    if GSM_BASIC.contains(c) {
        Some(1)
    } else if GSM_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

pub fn count(text: &str) -> Segments {
    let gsm: Option<Vec<usize>> = text.chars().map(gsm_septets).collect();
    let (encoding, sizes) = match gsm {
        Some(septets) => (Encoding::Gsm7, septets),
        None => (
            Encoding::Ucs2,
            text.chars().map(char::len_utf16).collect::<Vec<_>>(),
        ),
    };
    let units: usize = sizes.iter().sum();
    let (single, per_part) = encoding.capacity();
    let parts = if units <= single {
        1
    } else {
        // Fill parts in order; a character that does not fit whole starts the next one.
        let mut parts = 1;
        let mut used = 0;
        for size in sizes {
            if used + size > per_part {
                parts += 1;
                used = 0;
            }
            used += size;
        }
        parts
    };
    Segments {
        encoding,
        units,
        parts,
    }
}

#[cfg(test)]
mod tests {
    use super::{Encoding, count};

    fn parts(text: &str) -> (Encoding, usize, usize) {
        let segments = count(text);
        (segments.encoding, segments.units, segments.parts)
    }

    #[test]
    fn plain_english_is_gsm7_160_alone_then_153_per_part() {
        assert_eq!(parts(""), (Encoding::Gsm7, 0, 1));
        assert_eq!(parts(&"a".repeat(160)), (Encoding::Gsm7, 160, 1));
        assert_eq!(parts(&"a".repeat(161)), (Encoding::Gsm7, 161, 2));
        assert_eq!(parts(&"a".repeat(306)), (Encoding::Gsm7, 306, 2));
        assert_eq!(parts(&"a".repeat(307)), (Encoding::Gsm7, 307, 3));
        assert_eq!(
            parts("Wasit: booking WS-7K3F9Q @ £5 é"),
            (Encoding::Gsm7, 31, 1)
        );
    }

    #[test]
    fn extension_characters_count_twice_and_are_never_split() {
        assert_eq!(parts("€"), (Encoding::Gsm7, 2, 1));
        assert_eq!(parts(&"{".repeat(80)), (Encoding::Gsm7, 160, 1));
        assert_eq!(
            parts(&format!("{}[", "a".repeat(159))),
            (Encoding::Gsm7, 161, 2)
        );
        // 152 septets then an escape pair: the pair moves whole to the second part.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(parts(&text), (Encoding::Gsm7, 306, 3));
    }

    #[test]
    fn arabic_is_ucs2_70_alone_then_67_per_part() {
        assert_eq!(parts(&"ب".repeat(70)), (Encoding::Ucs2, 70, 1));
        assert_eq!(parts(&"ب".repeat(71)), (Encoding::Ucs2, 71, 2));
        assert_eq!(parts(&"ب".repeat(134)), (Encoding::Ucs2, 134, 2));
        assert_eq!(parts(&"ب".repeat(135)), (Encoding::Ucs2, 135, 3));
        // One character outside GSM-7 makes the whole text UCS-2.
        assert_eq!(
            parts(&format!("{}ب", "a".repeat(69))),
            (Encoding::Ucs2, 70, 1)
        );
        // Our bidi isolates are not GSM-7 either.
        assert_eq!(parts("\u{2066}WS-1\u{2069}").0, Encoding::Ucs2);
    }

    #[test]
    fn emoji_take_two_utf16_units_and_are_never_split() {
        assert_eq!(parts("👍"), (Encoding::Ucs2, 2, 1));
        assert_eq!(parts(&"👍".repeat(35)), (Encoding::Ucs2, 70, 1));
        assert_eq!(
            parts(&format!("{}👍", "ب".repeat(68))),
            (Encoding::Ucs2, 70, 1)
        );
        assert_eq!(
            parts(&format!("{}👍", "ب".repeat(69))),
            (Encoding::Ucs2, 71, 2)
        );
        // 66 units then a surrogate pair: it moves whole to the second part, so 134 units
        // (two parts' worth) take three.
        let text = format!("{}👍{}", "ب".repeat(66), "ب".repeat(66));
        assert_eq!(parts(&text), (Encoding::Ucs2, 134, 3));
    }
}
