//! C2SP `signed-note` (<https://c2sp.org/signed-note>) with Ed25519
//! signatures (type `0x01`): signer and verifier keys in the formats of the
//! Go reference implementation (`golang.org/x/mod/sumdb/note`), signing,
//! and opening a note with a verifier key.
//!
//! Formats:
//! - key id: the first 4 bytes (big-endian) of
//!   `SHA-256(name || 0x0A || 0x01 || 32-byte public key)`;
//! - verifier key: `<name>+<8 hex key id>+<base64(0x01 || public key)>`;
//! - signer key: `PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 || seed)>`;
//! - note: text ending in `\n`, a blank line, then one line per signature:
//!   `— <name> <base64(key id || signature)>\n` (U+2014 em dash).

use anyhow::{Context, Result, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// The signature type byte of Ed25519 in signed notes.
const ED25519: u8 = 0x01;
/// What starts a signature line.
const SIG_PREFIX: &str = "\u{2014} ";

/// The key id of an Ed25519 key named `name`.
fn key_id(name: &str, public: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ED25519]);
    h.update(public);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// Key names must be non-empty, without spaces or `+` (signed-note §Format).
fn check_name(name: &str) -> Result<()> {
    ensure!(
        !name.is_empty() && !name.contains(|c: char| c.is_whitespace() || c == '+'),
        "a key name must be non-empty, without spaces or '+' (got {name:?})"
    );
    Ok(())
}

/// A key that signs notes (the log's private key).
pub struct SignerKey {
    name: String,
    key: SigningKey,
}

impl SignerKey {
    /// A fresh random key named `name`.
    pub fn generate(name: &str) -> Result<Self> {
        check_name(name)?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("drawing a random signing key")?;
        Ok(Self {
            name: name.to_owned(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// Parse `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`. Errors
    /// never quote the key.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        let rest = text
            .strip_prefix("PRIVATE+KEY+")
            .context("not a signed-note signer key (expected PRIVATE+KEY+<name>+<id>+<key>)")?;
        // splitn: the base64 key may itself contain '+'.
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            bail!("malformed signer key (expected PRIVATE+KEY+<name>+<id>+<key>)");
        };
        check_name(name)?;
        let bytes = B64
            .decode(key)
            .ok()
            .context("malformed signer key (key is not base64)")?;
        let Some((&ED25519, seed)) = bytes.split_first() else {
            bail!("signer key is not an Ed25519 key (type byte 0x01)");
        };
        let seed: [u8; 32] = seed
            .try_into()
            .ok()
            .context("Ed25519 seed must be 32 bytes")?;
        let signer = Self {
            name: name.to_owned(),
            key: SigningKey::from_bytes(&seed),
        };
        ensure!(
            format!("{:08x}", signer.verifier().id) == id,
            "signer key id {id} does not match its key"
        );
        Ok(signer)
    }

    /// The text form (secret: write it to a 0600 file only).
    pub fn to_text(&self) -> String {
        let mut bytes = vec![ED25519];
        bytes.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.verifier().id,
            B64.encode(bytes)
        )
    }

    /// The key's name (the log's origin).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The matching verifier key.
    pub fn verifier(&self) -> VerifierKey {
        let public = self.key.verifying_key();
        VerifierKey {
            id: key_id(&self.name, public.as_bytes()),
            name: self.name.clone(),
            key: public,
        }
    }

    /// The signed note of `text` (which must end in a newline).
    pub fn sign(&self, text: &str) -> Result<String> {
        ensure!(text.ends_with('\n'), "note text must end with a newline");
        let mut sig = self.verifier().id.to_be_bytes().to_vec();
        sig.extend_from_slice(&self.key.sign(text.as_bytes()).to_bytes());
        Ok(format!(
            "{text}\n{SIG_PREFIX}{} {}\n",
            self.name,
            B64.encode(sig)
        ))
    }
}

/// A key that checks note signatures (public; given to auditors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl VerifierKey {
    /// Parse `<name>+<hex id>+<base64(0x01 || public key)>`.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            bail!("not a signed-note verifier key (expected <name>+<hex id>+<base64 key>)");
        };
        check_name(name)?;
        let bytes = B64
            .decode(key)
            .ok()
            .context("verifier key: key is not base64")?;
        let Some((&ED25519, public)) = bytes.split_first() else {
            bail!("verifier key is not an Ed25519 key (type byte 0x01)");
        };
        let public: [u8; 32] = public
            .try_into()
            .ok()
            .context("Ed25519 key must be 32 bytes")?;
        let key = VerifyingKey::from_bytes(&public).context("invalid Ed25519 public key")?;
        let verifier = Self {
            id: key_id(name, &public),
            name: name.to_owned(),
            key,
        };
        ensure!(
            id.len() == 8 && format!("{:08x}", verifier.id) == id.to_ascii_lowercase(),
            "verifier key id {id} does not match its key (expected {:08x})",
            verifier.id
        );
        Ok(verifier)
    }

    /// The text form.
    pub fn to_text(&self) -> String {
        let mut bytes = vec![ED25519];
        bytes.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.id, B64.encode(bytes))
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `name+id`, to name the key in messages.
    pub fn label(&self) -> String {
        format!("{}+{:08x}", self.name, self.id)
    }

    /// Check `note` and return its text. Signatures by other keys are
    /// ignored (signed-note §Signatures); a bad signature by this key, or
    /// none, is an error.
    pub fn open<'n>(&self, note: &'n str) -> Result<&'n str> {
        let (text, sigs) = split_note(note)?;
        let mut others = Vec::new();
        for line in sigs.lines() {
            let (name, sig) = parse_sig_line(line)?;
            let id = u32::from_be_bytes([sig[0], sig[1], sig[2], sig[3]]);
            if name != self.name || id != self.id {
                others.push(format!("{name}+{id:08x}"));
                continue;
            }
            let sig: [u8; 64] = sig[4..]
                .try_into()
                .ok()
                .context("the signature by this key is not 64 bytes")?;
            self.key
                .verify_strict(text.as_bytes(), &ed25519_dalek::Signature::from_bytes(&sig))
                .ok()
                .with_context(|| format!("the signature by {} is forged", self.label()))?;
            return Ok(text);
        }
        bail!(
            "not signed by {} (signed by: {})",
            self.label(),
            if others.is_empty() {
                "nobody".to_owned()
            } else {
                others.join(", ")
            }
        )
    }
}

/// Split a note into its text (with final newline) and signature block.
fn split_note(note: &str) -> Result<(&str, &str)> {
    ensure!(
        !note.chars().any(|c| c.is_control() && c != '\n'),
        "a signed note must not contain control characters"
    );
    let at = note
        .rfind("\n\n")
        .context("not a signed note (no blank line before the signatures)")?;
    let (text, sigs) = (&note[..=at], &note[at + 2..]);
    ensure!(
        !sigs.is_empty() && sigs.ends_with('\n'),
        "signed note has no signature lines"
    );
    Ok((text, sigs))
}

/// `— <name> <base64>` -> (name, decoded bytes of at least 5).
fn parse_sig_line(line: &str) -> Result<(&str, Vec<u8>)> {
    let rest = line
        .strip_prefix(SIG_PREFIX)
        .context("malformed signature line (must start with an em dash and a space)")?;
    let (name, b64) = rest.split_once(' ').context("malformed signature line")?;
    let sig = B64.decode(b64).ok().context("signature is not base64")?;
    ensure!(sig.len() > 4, "signature line too short");
    Ok((name, sig))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_ids_follow_the_spec() {
        let signer = SignerKey::generate("example.com/log").unwrap();
        let again = SignerKey::parse(&signer.to_text()).unwrap();
        assert_eq!(again.verifier(), signer.verifier());
        let v = VerifierKey::parse(&signer.verifier().to_text()).unwrap();
        let public = v.key.as_bytes();
        let mut data = b"example.com/log\n\x01".to_vec();
        data.extend_from_slice(public);
        let d = Sha256::digest(&data);
        assert_eq!(v.id, u32::from_be_bytes([d[0], d[1], d[2], d[3]]));
        assert!(SignerKey::generate("has space").is_err());
        assert!(SignerKey::generate("has+plus").is_err());
    }

    /// The Go reference implementation's example key and signature
    /// (`golang.org/x/mod/sumdb/note`, `note_test.go`: "If you think
    /// cryptography is the answer…").
    #[test]
    fn go_reference_vector_verifies() {
        let vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
        let note = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n\
                    \n\
                    \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
        let v = VerifierKey::parse(vkey).unwrap();
        assert!(v.open(note).is_ok());
        // Ed25519 is deterministic: the reference signer key reproduces the
        // reference note byte for byte.
        let skey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
        let signer = SignerKey::parse(skey).unwrap();
        assert_eq!(signer.verifier().to_text(), vkey);
        let text = &note[..note.find("\n\n").unwrap() + 1];
        assert_eq!(signer.sign(text).unwrap(), note);
        let forged = note.replace("answer", "Answer");
        assert!(v.open(&forged).is_err());
    }

    #[test]
    fn sign_open_and_reject_other_keys() {
        let a = SignerKey::generate("a.example/log").unwrap();
        let b = SignerKey::generate("a.example/log").unwrap();
        let note = a.sign("hello\n").unwrap();
        assert_eq!(a.verifier().open(&note).unwrap(), "hello\n");
        let err = b.verifier().open(&note).unwrap_err().to_string();
        assert!(err.contains("not signed by"), "{err}");
    }
}
