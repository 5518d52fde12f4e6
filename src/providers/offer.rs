//! Offer ids: everything a booking needs to know about an offer (provider, unit, range,
//! quantity, price, expiry), signed with HMAC-SHA256 so it cannot be forged or altered.
//! Stateless, so any instance can verify an id another one issued.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

/// What an offer id says. Short field names keep ids compact in URLs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferClaims {
    #[serde(rename = "p")]
    pub provider_id: Uuid,
    #[serde(rename = "u")]
    pub unit_code: String,
    /// The unit's names as the offer showed them, kept with the booking.
    #[serde(rename = "na", default)]
    pub unit_name_ar: String,
    #[serde(rename = "ne", default)]
    pub unit_name_en: String,
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub slot_ref: Option<String>,
    #[serde(rename = "s")]
    pub start: DateTime<Utc>,
    #[serde(rename = "e")]
    pub end: DateTime<Utc>,
    #[serde(rename = "q")]
    pub quantity: u32,
    #[serde(rename = "g", default, skip_serializing_if = "Option::is_none")]
    pub guests: Option<u32>,
    /// Who stays in each room of a stay.
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    pub occupancy: Option<crate::domain::occupancy::Occupancy>,
    #[serde(rename = "pp", with = "rust_decimal::serde::str")]
    pub provider_price: Decimal,
    #[serde(rename = "t", with = "rust_decimal::serde::str")]
    pub total: Decimal,
    /// The plan discount on our fee (percent) `total` was priced with: a hold checks the
    /// provider's price against it, and gives it only to a customer whose plan has as much.
    #[serde(rename = "d", default, skip_serializing_if = "is_zero")]
    pub fee_discount: i32,
    #[serde(rename = "x")]
    pub expires_at: i64,
}

fn is_zero(percent: &i32) -> bool {
    *percent == 0
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum OfferIdError {
    #[error("the offer id is malformed or has been altered")]
    Invalid,
    #[error("the offer has expired; search again")]
    Expired,
}

/// The signing key, derived from the JWT secret with a label so the two uses never mix,
/// kept as the HMAC state after the key (cloned per id: no key schedule per offer).
#[derive(Clone)]
pub struct OfferSigner {
    keyed: HmacSha256,
}

type HmacSha256 = Hmac<Sha256>;

const VERSION: &str = "o1";

impl OfferSigner {
    pub fn new(root_secret: &[u8]) -> Self {
        let key = crate::config::subkey::derive(root_secret, b"wasit offer id signing key v1");
        Self {
            keyed: <HmacSha256 as KeyInit>::new_from_slice(&key)
                .expect("HMAC takes any key length"),
        }
    }

    fn mac(&self) -> HmacSha256 {
        self.keyed.clone()
    }

    /// `o1.<claims>.<signature>`, both base64url.
    pub fn sign(&self, claims: &OfferClaims) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let mut mac = self.mac();
        mac.update(VERSION.as_bytes());
        mac.update(b".");
        mac.update(payload.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{VERSION}.{payload}.{signature}")
    }

    pub fn verify(&self, offer_id: &str, now: DateTime<Utc>) -> Result<OfferClaims, OfferIdError> {
        let mut parts = offer_id.split('.');
        let (Some(version), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(OfferIdError::Invalid);
        };
        if version != VERSION {
            return Err(OfferIdError::Invalid);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| OfferIdError::Invalid)?;
        let mut mac = self.mac();
        mac.update(VERSION.as_bytes());
        mac.update(b".");
        mac.update(payload.as_bytes());
        // Constant-time comparison.
        mac.verify_slice(&signature)
            .map_err(|_| OfferIdError::Invalid)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| OfferIdError::Invalid)?;
        let claims: OfferClaims =
            serde_json::from_slice(&bytes).map_err(|_| OfferIdError::Invalid)?;
        if claims.expires_at <= now.timestamp() {
            return Err(OfferIdError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    fn claims(expires_at: i64) -> OfferClaims {
        OfferClaims {
            provider_id: Uuid::new_v4(),
            unit_code: "deluxe".into(),
            unit_name_ar: "ديلوكس".into(),
            unit_name_en: "Deluxe".into(),
            slot_ref: None,
            start: Utc::now(),
            end: Utc::now(),
            quantity: 1,
            guests: Some(2),
            occupancy: None,
            provider_price: dec!(900.00),
            total: dec!(928.75),
            fee_discount: 0,
            expires_at,
        }
    }

    #[test]
    fn a_signed_offer_verifies_to_its_claims() {
        let signer = OfferSigner::new(b"root secret root secret root secret");
        let claims = claims(Utc::now().timestamp() + 600);
        assert_eq!(
            signer.verify(&signer.sign(&claims), Utc::now()).unwrap(),
            claims
        );
    }

    #[test]
    fn altered_forged_and_expired_offers_fail() {
        let signer = OfferSigner::new(b"root secret root secret root secret");
        let id = signer.sign(&claims(Utc::now().timestamp() + 600));
        let (head, signature) = id.rsplit_once('.').unwrap();
        let mut cheaper = claims(Utc::now().timestamp() + 600);
        cheaper.total = dec!(1.00);
        let cheaper_payload = signer.sign(&cheaper);
        let forged = format!(
            "{}.{}",
            cheaper_payload.rsplit_once('.').unwrap().0,
            signature
        );
        assert_eq!(
            signer.verify(&forged, Utc::now()),
            Err(OfferIdError::Invalid)
        );
        assert_eq!(
            signer.verify(&format!("{head}.AAAA"), Utc::now()),
            Err(OfferIdError::Invalid)
        );
        assert_eq!(
            signer.verify("nonsense", Utc::now()),
            Err(OfferIdError::Invalid)
        );
        let other = OfferSigner::new(b"another root secret entirely......");
        assert_eq!(other.verify(&id, Utc::now()), Err(OfferIdError::Invalid));
        let stale = signer.sign(&claims(Utc::now().timestamp() - 1));
        assert_eq!(
            signer.verify(&stale, Utc::now()),
            Err(OfferIdError::Expired)
        );
    }
}
