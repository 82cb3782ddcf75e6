//! Secrets at rest: what the store keeps of a Capsule token is sealed with a key only the
//! servers hold, and what it keeps of an MCP token is a hash, so a copy of the store (a Redis
//! dump, a stolen file) gives nobody a credential.
//!
//! Sealing is XChaCha20-Poly1305 with a random 24-byte nonce per value and the store key as
//! associated data: a sealed value moved to another key (one person's tokens under another's
//! name) does not open.

use base64::Engine as _;
use chacha20poly1305::{
    XChaCha20Poly1305, XNonce,
    aead::{Aead, AeadCore, KeyInit, OsRng, Payload, rand_core::RngCore},
};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// The environment variable that holds the sealing key: 32 random bytes, base64
/// (`openssl rand -base64 32`). Every replica of one team server needs the same key.
pub const KEY_ENV: &str = "CAPSULE_MCP_STATE_KEY";

const NONCE_LEN: usize = 24;

pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(
        "{KEY_ENV} must be 32 random bytes in base64 (make one with `openssl rand -base64 32`); \
         the value is not shown"
    )]
    BadKey,
    #[error(
        "a stored secret did not open with {KEY_ENV}: the key changed, or the value was not sealed for this key name"
    )]
    Open,
}

impl Sealer {
    /// The sealer for a base64 key of 32 bytes.
    pub fn from_base64(key: &SecretString) -> Result<Self, SealError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(key.expose_secret().trim())
            .map_err(|_| SealError::BadKey)?;
        let cipher = XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| SealError::BadKey)?;
        Ok(Self { cipher })
    }

    /// A sealer with a random key that lives as long as the process (`--oauth --sandbox`
    /// without CAPSULE_MCP_STATE_KEY: nothing sealed outlives it anyway).
    pub fn random() -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(&XChaCha20Poly1305::generate_key(&mut OsRng)),
        }
    }

    /// Seals `plain` for storage under `key`: nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, key: &str, plain: &[u8]) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: plain,
            aad: key.as_bytes(),
        };
        // Encryption fails only for messages near 256 GiB; tokens are a few hundred bytes.
        let sealed = self.cipher.encrypt(&nonce, payload).unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens what [`Sealer::seal`] sealed under the same store `key`.
    pub fn open(&self, key: &str, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let payload = Payload {
            msg: body,
            aad: key.as_bytes(),
        };
        self.cipher
            .decrypt(XNonce::from_slice(nonce), payload)
            .map_err(|_| SealError::Open)
    }
}

/// A new random secret (32 bytes from the OS, URL-safe base64 without padding): MCP access
/// and refresh tokens, authorization codes, client ids, lock nonces.
pub fn random_secret() -> SecretString {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    SecretString::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// What the store keeps of a bearer token: its SHA-256, hex. Tokens are 256 random bits, so
/// no salt or slow hash is needed; the hash is also the store key the token is looked up by.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().fold(String::with_capacity(64), |mut s, b| {
        use std::fmt::Write as _;
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn key() -> SecretString {
        SecretString::from(base64::engine::general_purpose::STANDARD.encode([7u8; 32]))
    }

    #[test]
    fn a_sealed_value_opens_only_under_its_own_key_name() {
        let s = Sealer::from_base64(&key()).unwrap();
        let sealed = s.seal("person:1:capsule", b"secret-token");
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(
            s.open("person:1:capsule", &sealed).unwrap(),
            b"secret-token"
        );
        assert!(s.open("person:2:capsule", &sealed).is_err());
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(s.open("person:1:capsule", &flipped).is_err());
        assert_ne!(
            sealed,
            s.seal("person:1:capsule", b"secret-token"),
            "nonces differ"
        );
    }

    #[test]
    fn a_key_must_be_32_bytes_of_base64() {
        assert!(Sealer::from_base64(&SecretString::from("short")).is_err());
        let other = SecretString::from(base64::engine::general_purpose::STANDARD.encode([1u8; 16]));
        assert!(Sealer::from_base64(&other).is_err());
        let sealed = Sealer::from_base64(&key()).unwrap().seal("k", b"v");
        let wrong = SecretString::from(base64::engine::general_purpose::STANDARD.encode([8u8; 32]));
        assert!(
            Sealer::from_base64(&wrong)
                .unwrap()
                .open("k", &sealed)
                .is_err()
        );
    }

    #[test]
    fn secrets_are_random_and_hashes_stable() {
        let a = random_secret();
        assert_ne!(a.expose_secret(), random_secret().expose_secret());
        assert_eq!(a.expose_secret().len(), 43);
        assert_eq!(token_hash("abc"), token_hash("abc"));
        assert_eq!(token_hash("abc").len(), 64);
        assert_ne!(token_hash("abc"), token_hash("abd"));
    }
}
