//! Access tokens (JWT, HS256 pinned, with `iss`, `aud`, `exp`, `sub`, `role`, `gen`) and
//! opaque refresh tokens (32 random bytes; only their SHA-256 is stored).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Role;
use crate::config::AuthSettings;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: Uuid,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
    /// The account's session generation when the token was issued: ending every session
    /// raises the account's, and older tokens are refused. Tokens from before it existed
    /// read as 0, the generation every account started with.
    #[serde(default)]
    pub generation: i32,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// No session is refreshed past this long after its sign-in (`auth.session_max_days`).
    pub session_max: Duration,
}

/// The only algorithm we sign with and the only one we accept: a token whose header says
/// `none`, RS256 or anything else fails before its signature is even looked at.
const ALGORITHM: Algorithm = Algorithm::HS256;

impl TokenKeys {
    pub fn new(settings: &AuthSettings) -> anyhow::Result<Self> {
        let secret = settings.jwt_secret.expose_secret().as_bytes();
        let mut validation = Validation::new(ALGORITHM);
        validation.set_issuer(&[&settings.jwt_issuer]);
        validation.set_audience(&[&settings.jwt_audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = settings.jwt_leeway_secs;
        validation.validate_exp = true;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret)?,
            decoding: DecodingKey::from_secret(secret)?,
            validation,
            issuer: settings.jwt_issuer.clone(),
            audience: settings.jwt_audience.clone(),
            access_ttl: Duration::seconds(settings.access_token_ttl_secs as i64),
            refresh_ttl: Duration::days(i64::from(settings.refresh_token_ttl_days)),
            session_max: Duration::days(i64::from(settings.session_max_days)),
        })
    }

    pub fn issue_access(
        &self,
        user_id: Uuid,
        role: Role,
        generation: i32,
        now: DateTime<Utc>,
    ) -> anyhow::Result<String> {
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id,
            role,
            iat: now.timestamp(),
            exp: (now + self.access_ttl).timestamp(),
            jti: Uuid::new_v4(),
            generation,
        };
        Ok(jsonwebtoken::encode(
            &Header::new(ALGORITHM),
            &claims,
            &self.encoding,
        )?)
    }

    /// `None` for any token we did not issue, or that is expired or meant for another audience.
    pub fn verify_access(&self, token: &str) -> Option<AccessClaims> {
        jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .ok()
    }

    /// When a refresh token issued now for a session begun at `session_started_at` expires:
    /// its own lifetime, cut short where the session's ends.
    pub fn refresh_expiry(
        &self,
        now: DateTime<Utc>,
        session_started_at: DateTime<Utc>,
    ) -> DateTime<Utc> {
        (now + self.refresh_ttl).min(session_started_at + self.session_max)
    }
}

/// A fresh refresh token and the hash to store for it.
pub fn new_refresh_token() -> anyhow::Result<(String, Vec<u8>)> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_refresh_token(&token);
    Ok((token, hash))
}

pub fn hash_refresh_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Argon2Settings, LoginThrottleSettings, MailThrottleSettings};

    fn settings(secret: &str, audience: &str) -> AuthSettings {
        AuthSettings {
            jwt_secret: secret.to_owned().into(),
            jwt_issuer: "wasit".into(),
            jwt_audience: audience.into(),
            access_token_ttl_secs: 900,
            refresh_token_ttl_days: 30,
            jwt_leeway_secs: 0,
            password_min_length: 10,
            signups_per_address_per_hour: 10,
            verify_token_hours: 48,
            reset_token_minutes: 30,
            session_max_days: 90,
            session_recheck_ms: 1000,
            argon2: Argon2Settings {
                memory_kib: 1024,
                iterations: 1,
                parallelism: 1,
            },
            login_throttle: LoginThrottleSettings {
                account_max_failures: 5,
                address_max_failures: 20,
                window_secs: 900,
                lockout_secs: 60,
                max_lockout_secs: 3600,
            },
            mail_throttle: MailThrottleSettings {
                email_max_requests: 3,
                address_max_requests: 20,
                window_secs: 3600,
            },
        }
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn issued_tokens_verify_with_their_claims() {
        let keys = TokenKeys::new(&settings(SECRET, "wasit-api")).unwrap();
        let user = Uuid::new_v4();
        let token = keys.issue_access(user, Role::Agent, 3, Utc::now()).unwrap();
        let claims = keys.verify_access(&token).unwrap();
        assert_eq!(
            (claims.sub, claims.role, claims.generation),
            (user, Role::Agent, 3)
        );
        assert_eq!(claims.exp - claims.iat, 900);
    }

    #[test]
    fn foreign_expired_and_misaddressed_tokens_fail() {
        let keys = TokenKeys::new(&settings(SECRET, "wasit-api")).unwrap();
        let other_key =
            TokenKeys::new(&settings("another-secret-another-secret-xx", "wasit-api")).unwrap();
        let other_audience = TokenKeys::new(&settings(SECRET, "someone-else")).unwrap();
        let user = Uuid::new_v4();
        let now = Utc::now();
        assert!(
            keys.verify_access(&other_key.issue_access(user, Role::Admin, 0, now).unwrap())
                .is_none()
        );
        assert!(
            keys.verify_access(
                &other_audience
                    .issue_access(user, Role::Admin, 0, now)
                    .unwrap()
            )
            .is_none()
        );
        let expired = keys
            .issue_access(user, Role::Admin, 0, now - Duration::hours(1))
            .unwrap();
        assert!(keys.verify_access(&expired).is_none());
        assert!(keys.verify_access("not.a.jwt").is_none());
    }

    #[test]
    fn a_refresh_never_outlives_its_session() {
        let keys = TokenKeys::new(&settings(SECRET, "wasit-api")).unwrap();
        let now = Utc::now();
        assert_eq!(keys.refresh_expiry(now, now), now + Duration::days(30));
        let old = now - Duration::days(80);
        assert_eq!(keys.refresh_expiry(now, old), old + Duration::days(90));
    }

    #[test]
    fn refresh_tokens_are_random_and_stored_hashed() {
        let (first, first_hash) = new_refresh_token().unwrap();
        let (second, _) = new_refresh_token().unwrap();
        assert_ne!(first, second);
        assert_eq!(first.len(), 43);
        assert_eq!(first_hash, hash_refresh_token(&first));
        assert_eq!(first_hash.len(), 32);
    }
}
