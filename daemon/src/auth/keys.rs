//! Endpoint keys: generation, and constant-time verification against their digests.

use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::store::EndpointKeys;

/// Prefix of every endpoint key, so a leaked one is recognisable.
pub const KEY_PREFIX: &str = "esk_";

/// Which of an endpoint's two keys a client used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySlot {
    /// The endpoint's `primaryKey`.
    Primary,
    /// The endpoint's `secondaryKey` (the one to switch clients to while the primary rotates).
    Secondary,
}

impl KeySlot {
    /// The slot's name in logs (`primary` / `secondary`); never the key itself.
    pub fn as_str(self) -> &'static str {
        match self {
            KeySlot::Primary => "primary",
            KeySlot::Secondary => "secondary",
        }
    }
}

/// A new key: 32 random bytes, `esk_` + base64url without padding.
pub fn generate() -> Result<String, ring::error::Unspecified> {
    let mut raw = [0u8; 32];
    SystemRandom::new().fill(&mut raw)?;
    Ok(format!("{KEY_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)))
}

/// A new pair of keys.
pub fn generate_pair() -> Result<EndpointKeys, ring::error::Unspecified> {
    Ok(EndpointKeys {
        primary: generate()?,
        secondary: generate()?,
        token_secret: generate_secret()?,
    })
}

/// A new token-signing secret: 32 random bytes, base64url (never shown to anyone).
pub fn generate_secret() -> Result<String, ring::error::Unspecified> {
    let mut raw = [0u8; 32];
    SystemRandom::new().fill(&mut raw)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw))
}

/// What the data plane keeps of an endpoint's keys: their SHA-256 digests only.
#[derive(Clone)]
pub struct KeyDigests {
    primary: [u8; 32],
    secondary: [u8; 32],
}

impl std::fmt::Debug for KeyDigests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyDigests { .. }")
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl KeyDigests {
    /// Digests of an endpoint's keys.
    pub fn new(keys: &EndpointKeys) -> KeyDigests {
        KeyDigests { primary: digest(&keys.primary), secondary: digest(&keys.secondary) }
    }

    /// The slot whose key this is, comparing both in constant time.
    pub fn verify(&self, presented: &str) -> Option<KeySlot> {
        let d = digest(presented);
        let primary: bool = d.ct_eq(&self.primary).into();
        let secondary: bool = d.ct_eq(&self.secondary).into();
        match (primary, secondary) {
            (true, _) => Some(KeySlot::Primary),
            (false, true) => Some(KeySlot::Secondary),
            (false, false) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_documented_form() {
        let k = generate().unwrap();
        assert!(k.starts_with("esk_"));
        assert_eq!(k.len(), 4 + 43);
        assert!(!k.contains('='));
        assert_ne!(k, generate().unwrap());
    }

    #[test]
    fn verify_finds_the_slot() {
        let keys = generate_pair().unwrap();
        let d = KeyDigests::new(&keys);
        assert_eq!(d.verify(&keys.primary), Some(KeySlot::Primary));
        assert_eq!(d.verify(&keys.secondary), Some(KeySlot::Secondary));
        assert_eq!(d.verify("esk_wrong"), None);
        assert_eq!(d.verify(""), None);
    }

    #[test]
    fn debug_never_shows_secrets() {
        let keys = generate_pair().unwrap();
        assert!(!format!("{:?} {:?}", keys, KeyDigests::new(&keys)).contains(&keys.primary));
    }
}
