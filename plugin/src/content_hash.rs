//! Hashes of conversation content (prompts, responses, messages, documents):
//! the one definition that the Compliance API content events and the Claude
//! Code telemetry events share, so that the same text gives the same hash
//! whichever way it reached us.
//!
//! Two kinds, for two readers:
//! - **keyed** (`hmac-sha256:<key-id>:<64 hex>`): HMAC-SHA-256 under the
//!   pseudonymization key over `"content" ‖ 0x1f ‖ text`. The default. A short
//!   prompt ("yes", "delete it") cannot be found by hashing guesses without the
//!   key. The `"content" ‖ 0x1f` prefix is the same domain separation that
//!   pseudonyms use (`<entity> ‖ 0x1f ‖ value`), so a content hash never equals
//!   the MAC of a pseudonym. Whoever holds the key recomputes it exactly.
//! - **unkeyed** (`sha256:<64 hex>`): SHA-256 of the exact UTF-8 bytes of the
//!   text, for a third party who holds the text but not our key. Opt-in: it
//!   lets anyone confirm a guess of the content.
//!
//! The text is hashed exactly as received: no trimming, no Unicode
//! normalization, no newline conversion.

use hmac::Mac;
use sha2::{Digest, Sha256};

use crate::redact::pseudonym::HmacKey;

/// The entity name mixed into the keyed hash (see the module docs).
const CONTENT_ENTITY: &[u8] = b"content";

/// `hmac-sha256:<key-id>:<64 lowercase hex>` of `text` under `key`.
pub fn keyed(key: &HmacKey, text: &str) -> String {
    let mut mac = key.mac_state().into_inner();
    mac.update(CONTENT_ENTITY);
    mac.update(&[0x1f]);
    mac.update(text.as_bytes());
    let tag = mac.finalize().into_bytes();
    format!("hmac-sha256:{}:{}", key.id, hex_lower(&tag))
}

/// `sha256:<64 lowercase hex>` of the UTF-8 bytes of `text`.
pub fn unkeyed(text: &str) -> String {
    format!("sha256:{}", hex_lower(&Sha256::digest(text.as_bytes())))
}

fn hex_lower(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::Hmac;

    #[test]
    fn keyed_is_hmac_over_domain_and_text() {
        let key = HmacKey::new("k1", vec![7; 32]).unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(&[7; 32]).unwrap();
        mac.update(b"content\x1fhello");
        let expected = data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes());
        assert_eq!(keyed(&key, "hello"), format!("hmac-sha256:k1:{expected}"));
        assert_ne!(keyed(&key, "hello"), keyed(&key, "hello "));
    }

    #[test]
    fn unkeyed_is_plain_sha256() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            unkeyed("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
