//! Argon2id password hashes in PHC form. Each stored hash carries its own parameters, so
//! changing `auth.argon2` only affects new hashes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::Semaphore;

use crate::config::Argon2Settings;
use crate::error::ApiError;

/// Hashes that may wait for a turn; past this a flood is refused with 503, not queued.
const MAX_WAITING: usize = 64;

/// At most half the cores hash at once (at least one), so a flood of sign-ups or logins
/// leaves the other half to the API; each hash holds `auth.argon2.memory_kib` (19 MiB by
/// default). Waiting is asynchronous (no thread is parked per request) and bounded.
struct Gate {
    turns: Semaphore,
    waiting: AtomicUsize,
}

impl Gate {
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(ApiError::Unavailable(anyhow::anyhow!(
                "more than {MAX_WAITING} password checks waiting"
            )));
        }
        let turn = self.turns.acquire().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let _turn = turn.map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(ApiError::internal)
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
                turns: Semaphore::new((cores / 2).max(1)),
                waiting: AtomicUsize::new(0),
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

    /// Hashes on this thread, ungated (the CLI, start-up).
    pub fn hash(&self, password: &str) -> anyhow::Result<String> {
        self.hasher()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    }

    /// Whether `password` matches `stored` (`None`: no such account; still does the work).
    pub fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let matched = self
            .hasher()
            .verify_password(password.as_bytes(), stored.unwrap_or(&self.decoy_hash))
            .is_ok();
        matched && stored.is_some()
    }

    /// [`Passwords::hash`] for a request: through the gate, on the blocking pool.
    pub async fn hash_in_turn(&self, password: String) -> Result<String, ApiError> {
        let passwords = self.clone();
        self.gate
            .run(move || passwords.hash(&password))
            .await?
            .map_err(ApiError::Internal)
    }

    /// [`Passwords::verify`] for a request: through the gate, on the blocking pool.
    pub async fn verify_in_turn(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, ApiError> {
        let passwords = self.clone();
        self.gate
            .run(move || passwords.verify(&password, stored.as_deref()))
            .await
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

    /// A flood of 200 hashes at once: at most half the cores hash at a time and at most
    /// `MAX_WAITING` wait; the rest are refused at once with 503 instead of piling up.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_hashes_is_bounded_and_the_excess_refused() {
        let passwords = Passwords::new(&Argon2Settings {
            memory_kib: 8192,
            iterations: 3,
            parallelism: 1,
        })
        .unwrap();
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let attempts = (0..200).map(|_| {
            let (passwords, running, most) = (passwords.clone(), running.clone(), most.clone());
            let gate = passwords.gate.clone();
            tokio::spawn(async move {
                gate.run(move || {
                    let now = running.fetch_add(1, Ordering::AcqRel) + 1;
                    most.fetch_max(now, Ordering::AcqRel);
                    let hashed = passwords.hash("flood password");
                    running.fetch_sub(1, Ordering::AcqRel);
                    hashed
                })
                .await
            })
        });
        let mut hashed = 0;
        let mut refused = 0;
        for attempt in attempts.collect::<Vec<_>>() {
            match attempt.await.unwrap() {
                Ok(_) => hashed += 1,
                Err(ApiError::Unavailable(_)) => refused += 1,
                Err(other) => panic!("{other}"),
            }
        }
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        assert!(most.load(Ordering::Acquire) <= (cores / 2).max(1));
        assert!(hashed >= MAX_WAITING, "{hashed} hashed");
        assert!(
            refused > 0 && hashed + refused == 200,
            "{hashed} + {refused}"
        );
    }
}
