//! Key-like words clients type: cities (`riyadh`) and specialties (`cardiology`). They key
//! lookups and kept answers, so they are checked before anything is looked up or kept: an
//! unchecked one lets an anonymous caller grow memory with every distinct junk value.
//! And the readable codes of a provider's units (`deluxe-double`), which offers, bookings
//! and webhooks show in place of a row id.

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

/// The longest unit code; the units table's CHECK says the same.
pub const MAX_CODE_CHARS: usize = 50;

/// A unit code: 1–50 lower-case latin letters and digits in words joined by single dashes
/// (`deluxe-double`, `suite-2`).
pub fn is_unit_code(value: &str) -> bool {
    (1..=MAX_CODE_CHARS).contains(&value.len())
        && value.split('-').all(|word| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// A unit code made from a name (`Deluxe King Room` → `deluxe-king-room`): latin letters and
/// digits kept, every other run a dash, short enough to take a `-NN` suffix; `unit` when
/// the name has no latin letter or digit. The migration backfilling codes does the same.
pub fn unit_code_from(name: &str) -> String {
    const ROOM_FOR_SUFFIX: usize = 4;
    let mut code = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            code.push(c.to_ascii_lowercase());
        } else if !code.is_empty() && !code.ends_with('-') {
            code.push('-');
        }
    }
    code.truncate(MAX_CODE_CHARS - ROOM_FOR_SUFFIX);
    let code = code.trim_end_matches('-');
    if code.is_empty() {
        "unit".to_owned()
    } else {
        code.to_owned()
    }
}

/// `base` if no code in `taken` is it, else `base-2`, `base-3`…, the first one free.
pub fn first_free_code(base: &str, taken: &[String]) -> String {
    if !taken.iter().any(|t| t == base) {
        return base.to_owned();
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|candidate| !taken.contains(candidate))
        .unwrap_or_else(|| base.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_codes_are_dashed_latin_words() {
        for good in ["deluxe-double", "suite-2", "a", "2", &"a".repeat(50)] {
            assert!(is_unit_code(good), "{good}");
        }
        for bad in [
            "",
            "Deluxe",
            "-x",
            "x-",
            "a--b",
            "a_b",
            "غرفة",
            "a b",
            &"a".repeat(51),
        ] {
            assert!(!is_unit_code(bad), "{bad}");
        }
    }

    #[test]
    fn unit_codes_come_from_names_and_are_made_unique() {
        assert_eq!(unit_code_from("Deluxe King Room"), "deluxe-king-room");
        assert_eq!(
            unit_code_from("Cardiology - Dr. Ahmed Al-Qahtani"),
            "cardiology-dr-ahmed-al-qahtani"
        );
        assert_eq!(unit_code_from("  Suite #2 "), "suite-2");
        assert_eq!(unit_code_from("جناح"), "unit");
        let long = unit_code_from(&"word ".repeat(30));
        assert!(
            is_unit_code(&long) && long.len() <= MAX_CODE_CHARS - 4,
            "{long}"
        );
        assert!(is_unit_code(&format!("{long}-99")));
        let taken = vec!["room".to_owned(), "room-2".to_owned()];
        assert_eq!(first_free_code("room", &taken), "room-3");
        assert_eq!(first_free_code("suite", &taken), "suite");
    }

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
