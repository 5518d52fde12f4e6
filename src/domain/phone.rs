use std::fmt;

/// A phone number in E.164 (`+966501234567`). Saudi numbers typed the local way
/// (`0501234567`, `00966…`, `966…`) are accepted and normalised, since that is how clients
/// read them out on the phone.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let compact: String = raw
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
            .collect();
        let digits_after = |prefix: &str| compact.strip_prefix(prefix).map(str::to_owned);
        let international = if let Some(rest) = digits_after("+") {
            rest
        } else if let Some(rest) = digits_after("00") {
            rest
        } else if let Some(rest) = compact
            .strip_prefix('0')
            .filter(|r| r.starts_with('5') && r.len() == 9)
        {
            format!("966{rest}")
        } else if compact.starts_with("966") {
            compact.clone()
        } else {
            return Err("must be in international form, e.g. +966501234567");
        };
        let valid = international.chars().all(|c| c.is_ascii_digit())
            && (8..=15).contains(&international.len())
            && !international.starts_with('0');
        if !valid {
            return Err("is not a valid phone number");
        }
        if let Some(national) = international.strip_prefix("966") {
            // Saudi numbers: 9 digits after the country code (mobile 5x, landline 1x).
            if national.len() != 9 {
                return Err("is not a valid Saudi phone number");
            }
        }
        Ok(Self(format!("+{international}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::PhoneNumber;

    #[test]
    fn normalises_saudi_and_international_forms() {
        for raw in [
            "+966501234567",
            "0501234567",
            "00966501234567",
            "966 50 123 4567",
            "+966 (50) 123-4567",
        ] {
            assert_eq!(
                PhoneNumber::parse(raw).unwrap().as_str(),
                "+966501234567",
                "{raw}"
            );
        }
        assert_eq!(
            PhoneNumber::parse("+44 20 7946 0958").unwrap().as_str(),
            "+442079460958"
        );
    }

    #[test]
    fn rejects_what_is_not_a_phone_number() {
        for raw in [
            "",
            "12345",
            "+966123",
            "+0123456789",
            "phone",
            "+96650123456789",
            "0123456789",
        ] {
            assert!(PhoneNumber::parse(raw).is_err(), "{raw:?} accepted");
        }
    }
}
