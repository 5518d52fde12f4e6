use std::fmt;
use std::str::FromStr;

/// An email address, trimmed and lower-cased (one account per mailbox however it is typed).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let normalised = raw.trim().to_lowercase();
        if normalised.is_empty() {
            return Err("must not be empty");
        }
        if normalised.len() > 254 {
            return Err("must be at most 254 characters");
        }
        // RFC 5322 syntax, minus the quoted and IP-literal forms nobody types into a booking form.
        let parsed = email_address::EmailAddress::from_str(&normalised)
            .map_err(|_| "is not an email address")?;
        let domain = parsed.domain();
        if domain.starts_with('[') || !domain.contains('.') || normalised.contains('"') {
            return Err("is not an email address");
        }
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn accepts_and_normalises_ordinary_addresses() {
        assert_eq!(
            Email::parse("  Sara.Ali@Example.SA ").unwrap().as_str(),
            "sara.ali@example.sa"
        );
        assert!(Email::parse("a+tag@sub.example.com").is_ok());
    }

    #[test]
    fn rejects_what_is_not_an_email() {
        for raw in [
            "",
            "plainaddress",
            "@example.com",
            "a@",
            "a@b",
            "a b@example.com",
            "a@[127.0.0.1]",
            "\"q\"@example.com",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw:?} accepted");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
    }
}
