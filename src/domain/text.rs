//! Names and free text as people type them. No form produces a control character, and each
//! one breaks a format we write text into (iCalendar, email headers, invoices, logs); the
//! bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) make text
//! display in another order than it is stored ("Trojan Source"). Both are refused at the
//! edge; the marks Arabic text uses (U+200E, U+200F, U+061C) are not among them.
//!
//! [`one_line`] cleans text for output that came in before these rules or from outside.

use std::borrow::Cow;

/// The embeddings, overrides and isolates: LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Line and paragraph separators: line breaks to a reader, none to a name.
fn is_line_separator(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}')
}

/// A name: one line, trimmed, 1 to `max` characters.
pub fn name(raw: &str, max: usize) -> Result<String, String> {
    let text = raw.trim();
    check_length(text, max)?;
    if text.chars().any(|c| c.is_control() || is_line_separator(c)) {
        return Err("must be one line without control characters".into());
    }
    check_bidi(text)?;
    Ok(text.to_owned())
}

/// Free text (a reason): trimmed, 1 to `max` characters; line feeds and tabs are kept (a
/// CR LF pair is read as a line feed), other control characters refused.
pub fn note(raw: &str, max: usize) -> Result<String, String> {
    let text = raw.trim().replace("\r\n", "\n");
    check_length(&text, max)?;
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err("must not contain control characters other than line breaks and tabs".into());
    }
    check_bidi(&text)?;
    Ok(text)
}

fn check_length(text: &str, max: usize) -> Result<(), String> {
    if text.is_empty() || text.chars().count() > max {
        return Err(format!("must be 1 to {max} characters"));
    }
    Ok(())
}

fn check_bidi(text: &str) -> Result<(), String> {
    if text.chars().any(is_bidi_control) {
        return Err(
            "must not contain bidirectional embedding, override or isolate characters \
             (U+202A–U+202E, U+2066–U+2069)"
                .into(),
        );
    }
    Ok(())
}

/// Text made one clean line for a header, a summary, an invoice or a log: each control
/// character or line separator becomes a space (a CR LF pair one space), bidirectional
/// controls are dropped.
pub fn one_line(text: &str) -> Cow<'_, str> {
    let unclean = |c: char| c.is_control() || is_line_separator(c) || is_bidi_control(c);
    if !text.chars().any(unclean) {
        return Cow::Borrowed(text);
    }
    let mut clean = String::with_capacity(text.len());
    let mut previous = ' ';
    for c in text.chars() {
        match c {
            '\n' if previous == '\r' => {}
            c if is_bidi_control(c) => {}
            c if unclean(c) => clean.push(' '),
            c => clean.push(c),
        }
        previous = c;
    }
    Cow::Owned(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_arabic_and_its_marks() {
        assert_eq!(name("  سارة الحربي ", 200).unwrap(), "سارة الحربي");
        assert!(name("Sara \u{200F}الحربي\u{200E}\u{061C}", 200).is_ok());
        assert!(name("O'Brien-Smith, Jr.", 200).is_ok());
    }

    #[test]
    fn names_refuse_controls_line_breaks_and_bidi_overrides() {
        for raw in [
            "Eve\rX-INJECTED:1",
            "Eve\nBcc: x@example.com",
            "Eve\tTab",
            "Eve\u{1b}[31m",
            "Eve\u{7f}",
            "Eve\u{85}next line",
            "Eve\u{2028}line",
            "Eve\u{202E}gnp.exe",
            "Eve\u{2066}isolate\u{2069}",
        ] {
            assert!(name(raw, 200).is_err(), "{raw:?} accepted");
        }
        assert_eq!(name("  ", 200).unwrap_err(), "must be 1 to 200 characters");
        assert!(name(&"a".repeat(201), 200).is_err());
    }

    #[test]
    fn notes_keep_line_breaks_and_tabs_only() {
        assert_eq!(
            note("first line\r\nsecond\tcolumn", 500).unwrap(),
            "first line\nsecond\tcolumn"
        );
        for raw in ["bare\rreturn", "bell\u{7}", "rlo\u{202E}"] {
            assert!(note(raw, 500).is_err(), "{raw:?} accepted");
        }
    }

    #[test]
    fn one_line_cleans_what_came_in_before_the_rules() {
        assert_eq!(one_line("Eve\r\nBcc: x"), "Eve Bcc: x");
        assert_eq!(one_line("Eve\rX\u{202E}Y\tZ"), "Eve XY Z");
        assert!(matches!(one_line("سارة"), Cow::Borrowed(_)));
    }
}
