//! C2SP `tlog-checkpoint` (<https://c2sp.org/tlog-checkpoint>): the note
//! text `<origin>\n<tree size>\n<base64 root hash>\n`, signed as a
//! signed note by the key whose name is the origin.

use anyhow::{Context, Result, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::merkle::Hash;
use super::note::{SignerKey, VerifierKey};

/// A tree head: who, how many leaves, which root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity (the signing key's name).
    pub origin: String,
    /// Leaves in the tree.
    pub size: u64,
    /// RFC 6962 root of those leaves.
    pub root: Hash,
}

impl Checkpoint {
    /// The note text. No extension lines (the spec advises against them).
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// Parse a note text; extension lines are accepted and ignored.
    pub fn parse(text: &str) -> Result<Self> {
        let mut lines = text.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            bail!("a checkpoint has at least three lines (origin, tree size, root hash)");
        };
        ensure!(!origin.is_empty(), "checkpoint origin is empty");
        ensure!(
            size == "0" || (!size.starts_with('0') && size.bytes().all(|b| b.is_ascii_digit())),
            "checkpoint tree size {size:?} is not a decimal number without leading zeroes"
        );
        let size = size.parse().context("checkpoint tree size out of range")?;
        let root = B64
            .decode(root)
            .ok()
            .and_then(|r| Hash::try_from(r).ok())
            .context("checkpoint root hash is not the base64 of 32 bytes")?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
        })
    }

    /// The signed note of this checkpoint.
    pub fn sign(&self, key: &SignerKey) -> Result<String> {
        key.sign(&self.to_text())
    }

    /// Check `note`'s signature by `key`, parse it and check its origin is
    /// the key's name.
    pub fn open(note: &str, key: &VerifierKey) -> Result<Self> {
        let checkpoint = Self::parse(key.open(note)?)?;
        ensure!(
            checkpoint.origin == key.name(),
            "checkpoint origin {:?} is not the key's name {:?}",
            checkpoint.origin,
            key.name()
        );
        Ok(checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_and_strict_size() {
        let c = Checkpoint {
            origin: "example.com/log".into(),
            size: 20852163,
            root: [7; 32],
        };
        assert_eq!(Checkpoint::parse(&c.to_text()).unwrap(), c);
        assert!(Checkpoint::parse("o\n012\nAAAA\n").is_err());
        let key = SignerKey::generate("example.com/log").unwrap();
        let note = c.sign(&key).unwrap();
        assert_eq!(Checkpoint::open(&note, &key.verifier()).unwrap(), c);
    }
}
