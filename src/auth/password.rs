//! Argon2id password hashes in PHC form. Each stored hash carries its own parameters, so
//! changing `auth.argon2` only affects new hashes.

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

use crate::config::Argon2Settings;

#[derive(Clone)]
pub struct Passwords {
    params: Params,
    /// A real hash to verify against when the account does not exist, so an unknown email
    /// costs the same time as a wrong password and timing reveals nothing.
    decoy_hash: String,
}

impl Passwords {
    pub fn new(settings: &Argon2Settings) -> anyhow::Result<Self> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("auth.argon2: {e}"))?;
        let mut passwords = Self {
            params,
            decoy_hash: String::new(),
        };
        passwords.decoy_hash = passwords.hash("decoy password, never matches")?;
        Ok(passwords)
    }

    fn hasher(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    pub fn hash(&self, password: &str) -> anyhow::Result<String> {
        let hash = self
            .hasher()
            .hash_password(password.as_bytes())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))?;
        Ok(hash.to_string())
    }

    /// Whether `password` matches `stored` (`None`: no such account; still does the work).
    pub fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let matched = self
            .hasher()
            .verify_password(password.as_bytes(), stored.unwrap_or(&self.decoy_hash))
            .is_ok();
        matched && stored.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passwords() -> Passwords {
        Passwords::new(&Argon2Settings {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap()
    }

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let passwords = passwords();
        let first = passwords.hash("correct horse battery").unwrap();
        let second = passwords.hash("correct horse battery").unwrap();
        assert!(
            first.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"),
            "{first}"
        );
        assert_ne!(first, second, "salts must differ");
        assert!(passwords.verify("correct horse battery", Some(&first)));
        assert!(!passwords.verify("correct horse batterY", Some(&first)));
    }

    #[test]
    fn no_account_never_verifies() {
        let passwords = passwords();
        assert!(!passwords.verify("decoy password, never matches", None));
    }

    #[test]
    fn hashes_made_with_other_parameters_still_verify() {
        let old = Passwords::new(&Argon2Settings {
            memory_kib: 2048,
            iterations: 2,
            parallelism: 1,
        })
        .unwrap();
        let stored = old.hash("s3cret-pass").unwrap();
        assert!(passwords().verify("s3cret-pass", Some(&stored)));
    }
}
