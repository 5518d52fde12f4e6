//! Human booking references: `WS-` (a booking) or `WP-` (a package, `packages`) and six
//! characters an agent can read out on the phone without confusion (no 0/O, 1/I/L).

const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

pub fn new_reference() -> anyhow::Result<String> {
    new_code("WS-")
}

/// A package's reference, `WP-` and six characters.
pub fn new_package_reference() -> anyhow::Result<String> {
    new_code("WP-")
}

fn new_code(prefix: &str) -> anyhow::Result<String> {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    // 256 is not a multiple of 31: reject the top of the range so every character is as likely.
    let limit = 256 - 256 % ALPHABET.len();
    let mut out = String::from(prefix);
    let mut i = 0;
    while out.len() < 9 {
        let byte = if i < bytes.len() {
            bytes[i]
        } else {
            let mut one = [0u8; 1];
            getrandom::fill(&mut one).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            one[0]
        };
        i += 1;
        if usize::from(byte) < limit {
            out.push(char::from(ALPHABET[usize::from(byte) % ALPHABET.len()]));
        }
    }
    Ok(out)
}

/// Accepts what a person types: any case, with or without the `WS-`.
pub fn normalise(raw: &str) -> Option<String> {
    normalise_with(raw, "WS")
}

/// [`normalise`] for a package's `WP-` reference.
pub fn normalise_package(raw: &str) -> Option<String> {
    normalise_with(raw, "WP")
}

fn normalise_with(raw: &str, prefix: &str) -> Option<String> {
    let upper = raw.trim().to_ascii_uppercase();
    let code = upper
        .strip_prefix(prefix)
        .map(|rest| rest.strip_prefix('-').unwrap_or(rest))
        .unwrap_or(&upper);
    (code.len() == 6 && code.bytes().all(|b| ALPHABET.contains(&b)))
        .then(|| format!("{prefix}-{code}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_have_the_documented_shape() {
        for _ in 0..500 {
            let reference = new_reference().unwrap();
            assert_eq!(normalise(&reference).as_deref(), Some(reference.as_str()));
            assert!(
                !reference[3..].contains(['0', 'O', '1', 'I', 'L']),
                "{reference}"
            );
        }
    }

    #[test]
    fn typed_references_are_normalised() {
        assert_eq!(normalise(" ws-7k3f9q ").as_deref(), Some("WS-7K3F9Q"));
        assert_eq!(normalise("7K3F9Q").as_deref(), Some("WS-7K3F9Q"));
        assert_eq!(normalise("WS-7K3F90"), None);
        assert_eq!(normalise("WS-7K3F9"), None);
        assert_eq!(normalise_package("wp-7k3f9q").as_deref(), Some("WP-7K3F9Q"));
        let package = new_package_reference().unwrap();
        assert!(
            package.starts_with("WP-") && package.len() == 9,
            "{package}"
        );
    }
}
