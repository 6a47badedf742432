//! Zoom webhook signatures: `x-zm-signature` = `v0=` + hex HMAC-SHA256(secret,
//! `v0:{x-zm-request-timestamp}:{raw body}`), and the `endpoint.url_validation`
//! answer.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

fn hmac_hex(secret: &[u8], parts: &[&[u8]]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    for p in parts {
        mac.update(p);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// The `x-zm-signature` header value for a body sent at `timestamp` (seconds).
pub fn sign_webhook(secret: &str, timestamp: &str, body: &[u8]) -> String {
    format!(
        "v0={}",
        hmac_hex(
            secret.as_bytes(),
            &[b"v0:", timestamp.as_bytes(), b":", body]
        )
    )
}

/// Checks `signature` against the raw body in constant time.
pub fn verify_webhook_signature(
    secret: &str,
    timestamp: &str,
    body: &[u8],
    signature: &str,
) -> bool {
    let expected = sign_webhook(secret, timestamp, body);
    expected
        .as_bytes()
        .ct_eq(signature.trim().as_bytes())
        .into()
}

/// The answer to `endpoint.url_validation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UrlValidationResponse {
    /// The token Zoom sent.
    pub plain_token: String,
    /// hex HMAC-SHA256(secret, plainToken).
    pub encrypted_token: String,
}

/// Builds the `endpoint.url_validation` answer.
pub fn url_validation_response(secret: &str, plain_token: &str) -> UrlValidationResponse {
    UrlValidationResponse {
        plain_token: plain_token.to_owned(),
        encrypted_token: hmac_hex(secret.as_bytes(), &[plain_token.as_bytes()]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_round_trip() {
        let body = br#"{"event":"meeting.started"}"#;
        let sig = sign_webhook("secret", "1700000000", body);
        assert!(sig.starts_with("v0=") && sig.len() == 3 + 64);
        assert!(verify_webhook_signature("secret", "1700000000", body, &sig));
        assert!(!verify_webhook_signature("other", "1700000000", body, &sig));
        assert!(!verify_webhook_signature(
            "secret",
            "1700000001",
            body,
            &sig
        ));
        assert!(!verify_webhook_signature(
            "secret",
            "1700000000",
            b"{}",
            &sig
        ));
        assert!(!verify_webhook_signature("secret", "1700000000", body, ""));
    }

    #[test]
    fn url_validation_matches_known_vector() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog") — RFC 4231-style public vector.
        let r = url_validation_response("key", "The quick brown fox jumps over the lazy dog");
        assert_eq!(
            r.encrypted_token,
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
        let json = serde_json::to_value(&r).unwrap();
        assert!(json.get("plainToken").is_some() && json.get("encryptedToken").is_some());
    }
}
