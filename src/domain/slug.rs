//! Key-like words clients type: cities (`riyadh`) and specialties (`cardiology`). They key
//! lookups and kept answers, so they are checked before anything is looked up or kept: an
//! unchecked one lets an anonymous caller grow memory with every distinct junk value.

/// The longest slug or search term.
pub const MAX_KEY_CHARS: usize = 50;

/// A city (or other) slug: 2–50 lower-case latin letters and dashes, starting with a letter.
pub fn is_slug(value: &str) -> bool {
    (2..=MAX_KEY_CHARS).contains(&value.len())
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && value.chars().all(|c| c.is_ascii_lowercase() || c == '-')
}

/// A word matched against a provider's terms (a specialty's name or code): 1–50 letters of
/// any script, digits, spaces, dashes and dots.
pub fn is_search_term(value: &str) -> bool {
    (1..=MAX_KEY_CHARS).contains(&value.chars().count())
        && value
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_short_latin_words() {
        for good in ["riyadh", "al-khobar", "ab"] {
            assert!(is_slug(good), "{good}");
        }
        for bad in [
            "",
            "r",
            "Riyadh",
            "-x",
            "ri yadh",
            "الرياض",
            &"a".repeat(51),
        ] {
            assert!(!is_slug(bad), "{bad}");
        }
    }

    #[test]
    fn search_terms_allow_any_script_but_no_punctuation() {
        for good in ["cardiology", "قلب", "394579002", "internal medicine", "a"] {
            assert!(is_search_term(good), "{good}");
        }
        for bad in ["", "a;b", "<x>", "a\u{202e}b", &"ق".repeat(51)] {
            assert!(!is_search_term(bad), "{bad}");
        }
    }
}
