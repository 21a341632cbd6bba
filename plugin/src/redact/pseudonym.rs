//! Keyed pseudonyms: HMAC-SHA-256 under a secret key, so that the same value
//! always gives the same pseudonym (analysts can still join and count) while
//! nobody without the key can test guesses (unlike plain or salted hashes,
//! which fall to a dictionary of e-mail addresses).
//!
//! Shape: `<entity>:<key-id>:<16 base32 characters>` (80 bits of the MAC),
//! e.g. `email:k1:MFRGGZDFMZTWQ2LK`. The entity is mixed into the MAC so that
//! the same text found as two different entities gives unrelated pseudonyms.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Shortest accepted key: 256 bits.
pub const MIN_KEY_BYTES: usize = 32;

/// Characters of base32 kept from the MAC (16 x 5 bits = 80 bits).
const PSEUDONYM_CHARS: usize = 16;

/// A keyed HMAC state, ready to clone. `Debug` shows nothing of the key.
#[derive(Clone)]
pub struct HmacState(Hmac<Sha256>);

impl HmacState {
    /// The keyed MAC itself, to absorb a message other than a pseudonym's
    /// (the content hashes of [`crate::content_hash`]).
    pub fn into_inner(self) -> Hmac<Sha256> {
        self.0
    }
}

impl std::fmt::Debug for HmacState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacState(<keyed>)")
    }
}

/// A pseudonymization key with its id. `Debug` never shows the secret.
#[derive(Clone)]
pub struct HmacKey {
    /// The key id recorded on every event it pseudonymizes.
    pub id: String,
    secret: Vec<u8>,
}

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HmacKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl HmacKey {
    /// A key; `None` if the secret is shorter than [`MIN_KEY_BYTES`] or the
    /// id is empty or holds a `:` (it is part of the pseudonym).
    pub fn new(id: impl Into<String>, secret: Vec<u8>) -> Option<Self> {
        let id = id.into();
        let id_ok = !id.is_empty() && !id.contains(':') && id.len() <= 64;
        (id_ok && secret.len() >= MIN_KEY_BYTES).then_some(Self { id, secret })
    }

    /// The HMAC state with this key absorbed, to clone per pseudonym
    /// (saves hashing the key pads every time).
    pub fn mac_state(&self) -> HmacState {
        // `new_from_slice` accepts keys of any length for HMAC.
        match Hmac::<Sha256>::new_from_slice(&self.secret) {
            Ok(mac) => HmacState(mac),
            Err(_) => unreachable!("HMAC takes keys of any length"),
        }
    }

    /// The pseudonym of `value` as an `entity`.
    pub fn pseudonym(&self, entity: &str, value: &str) -> String {
        self.pseudonym_with(&self.mac_state(), entity, value)
    }

    /// [`Self::pseudonym`] from a state made by [`Self::mac_state`].
    pub fn pseudonym_with(&self, state: &HmacState, entity: &str, value: &str) -> String {
        let mut mac = state.0.clone();
        mac.update(entity.as_bytes());
        mac.update(&[0x1f]);
        mac.update(canonical(entity, value).as_bytes());
        let tag = mac.finalize().into_bytes();
        let mut encoded = data_encoding::BASE32_NOPAD.encode(&tag);
        encoded.truncate(PSEUDONYM_CHARS);
        format!("{entity}:{}:{encoded}", self.id)
    }
}

/// The form of a value that is pseudonymized: e-mail addresses are case
/// insensitive in practice, so `Alice@Example.com` joins with `alice@example.com`.
fn canonical<'v>(entity: &str, value: &'v str) -> std::borrow::Cow<'v, str> {
    match entity {
        "email" | "ip" => value.trim().to_ascii_lowercase().into(),
        _ => value.trim().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, byte: u8) -> HmacKey {
        HmacKey::new(id, vec![byte; 32]).unwrap()
    }

    #[test]
    fn deterministic_per_key_and_shaped() {
        let k1 = key("k1", 7);
        let p = k1.pseudonym("email", "Alice@Example.com");
        assert_eq!(p, k1.pseudonym("email", "alice@example.com"));
        assert!(p.starts_with("email:k1:"), "{p}");
        assert_eq!(p.len(), "email:k1:".len() + 16);
        assert_ne!(p, key("k2", 8).pseudonym("email", "alice@example.com"));
        assert_ne!(p, k1.pseudonym("user_id", "alice@example.com"));
    }

    #[test]
    fn short_keys_and_bad_ids_are_refused_and_secrets_never_printed() {
        assert!(HmacKey::new("k1", vec![1; 31]).is_none());
        assert!(HmacKey::new("a:b", vec![1; 32]).is_none());
        assert!(HmacKey::new("", vec![1; 32]).is_none());
        let debug = format!("{:?}", HmacKey::new("k1", vec![0x41; 32]).unwrap());
        assert!(!debug.contains("AAAA"), "{debug}");
    }
}
