//! Argon2id password hashes in PHC form. Each stored hash carries its own parameters, so
//! changing `auth.argon2` only affects new hashes.

use std::sync::{Arc, Condvar, Mutex, PoisonError};

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

use crate::config::Argon2Settings;

/// At most `limit` hashes at once. Each holds `auth.argon2.memory_kib` (19 MiB by default)
/// and keeps a core busy, so more in flight only costs memory and buys no throughput.
struct Gate {
    busy: Mutex<usize>,
    freed: Condvar,
    limit: usize,
}

impl Gate {
    fn run<T>(&self, work: impl FnOnce() -> T) -> T {
        let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        while *busy >= self.limit {
            busy = self
                .freed
                .wait(busy)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *busy += 1;
        drop(busy);
        let result = work();
        *self.busy.lock().unwrap_or_else(PoisonError::into_inner) -= 1;
        self.freed.notify_one();
        result
    }
}

#[derive(Clone)]
pub struct Passwords {
    gate: Arc<Gate>,
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
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let mut passwords = Self {
            gate: Arc::new(Gate {
                busy: Mutex::new(0),
                freed: Condvar::new(),
                limit: cores,
            }),
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
        let hash = self.gate.run(|| {
            self.hasher()
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
        });
        hash.map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    }

    /// Whether `password` matches `stored` (`None`: no such account; still does the work).
    pub fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let matched = self.gate.run(|| {
            self.hasher()
                .verify_password(password.as_bytes(), stored.unwrap_or(&self.decoy_hash))
                .is_ok()
        });
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
