//! Access tokens (JWT, HS256 pinned, with `iss`, `aud`, `exp`, `sub`, `role`) and opaque
//! refresh tokens (32 random bytes; only their SHA-256 is stored).

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
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
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
        })
    }

    pub fn issue_access(
        &self,
        user_id: Uuid,
        role: Role,
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
    use crate::config::{Argon2Settings, LoginThrottleSettings};

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
        }
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn issued_tokens_verify_with_their_claims() {
        let keys = TokenKeys::new(&settings(SECRET, "wasit-api")).unwrap();
        let user = Uuid::new_v4();
        let token = keys.issue_access(user, Role::Agent, Utc::now()).unwrap();
        let claims = keys.verify_access(&token).unwrap();
        assert_eq!((claims.sub, claims.role), (user, Role::Agent));
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
            keys.verify_access(&other_key.issue_access(user, Role::Admin, now).unwrap())
                .is_none()
        );
        assert!(
            keys.verify_access(&other_audience.issue_access(user, Role::Admin, now).unwrap())
                .is_none()
        );
        let expired = keys
            .issue_access(user, Role::Admin, now - Duration::hours(1))
            .unwrap();
        assert!(keys.verify_access(&expired).is_none());
        assert!(keys.verify_access("not.a.jwt").is_none());
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
