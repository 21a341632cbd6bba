//! The forensic vault: pseudonym -> original mappings, encrypted, for
//! authorized investigators only (audit playbooks ask to tokenize sensitive
//! values and keep the mapping in a vault for forensic use).
//!
//! Format: one line per entry, `base64(nonce || ciphertext)`, where the
//! plaintext is `{"pseudonym":…,"original":…,"entity":…}` sealed with
//! XChaCha20-Poly1305 under the vault key (a separate key from the HMAC
//! key), with a random 24-byte nonce and a fixed associated-data label. The
//! file is append-only across runs and created with mode 0600.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};

use crate::keys::Secret;

/// Associated data bound to every entry: a vault line cannot be replayed as
/// anything else.
const AAD: &[u8] = b"claude-audit vault v1";
const NONCE_BYTES: usize = 24;
/// Pseudonyms remembered per run to avoid writing an entry twice. Past this
/// the vault may hold duplicates (harmless) rather than grow memory.
const MAX_REMEMBERED: usize = 1_000_000;

/// One vault entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    /// The pseudonym written to events.
    pub pseudonym: String,
    /// The original value.
    pub original: String,
    /// Entity class.
    pub entity: String,
}

/// Appends encrypted entries to a vault file.
pub struct VaultWriter {
    path: PathBuf,
    cipher: XChaCha20Poly1305,
    out: BufWriter<File>,
    seen: HashSet<String>,
}

impl VaultWriter {
    /// Open (or create, mode 0600) `path` for appending.
    pub fn open(path: &Path, key: &Secret) -> Result<Self> {
        let file = crate::output::append_committed(path, None, "vault")?;
        Ok(Self {
            path: path.to_owned(),
            cipher: cipher(key)?,
            out: BufWriter::new(file),
            seen: HashSet::new(),
        })
    }

    /// Append `entry` unless this run already wrote its pseudonym.
    pub fn add(&mut self, entry: &Entry) -> Result<()> {
        if self.seen.contains(&entry.pseudonym) {
            return Ok(());
        }
        if self.seen.len() < MAX_REMEMBERED {
            self.seen.insert(entry.pseudonym.clone());
        }
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce)
            .map_err(|e| anyhow!("{e}"))
            .context("drawing a nonce")?;
        let plaintext = serde_json::to_vec(entry).context("encoding a vault entry")?;
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &plaintext,
                    aad: AAD,
                },
            )
            .map_err(|_| anyhow!("encrypting a vault entry failed"))?;
        let mut line = nonce.to_vec();
        line.extend_from_slice(&sealed);
        let encoded = base64::engine::general_purpose::STANDARD.encode(line);
        writeln!(self.out, "{encoded}")
            .with_context(|| format!("writing vault {}", self.path.display()))
    }

    /// Flush and fsync.
    pub fn finish(mut self) -> Result<()> {
        self.sync()
    }

    /// Flush and fsync, and keep writing.
    pub fn sync(&mut self) -> Result<()> {
        self.out
            .flush()
            .and_then(|()| self.out.get_ref().sync_all())
            .with_context(|| format!("flushing vault {}", self.path.display()))
    }
}

fn cipher(key: &Secret) -> Result<XChaCha20Poly1305> {
    XChaCha20Poly1305::new_from_slice(key.bytes())
        .map_err(|_| anyhow!("the vault key must be 32 bytes"))
}

/// Look up `pseudonyms` in the vault at `path`. Fails if any line does not
/// open under `key` (wrong key or tampered file).
pub fn reveal(path: &Path, key: &Secret, pseudonyms: &[String]) -> Result<Vec<Entry>> {
    let cipher = cipher(key)?;
    let file = File::open(path).with_context(|| format!("opening vault {}", path.display()))?;
    let wanted: HashSet<&str> = pseudonyms.iter().map(String::as_str).collect();
    let mut found = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading vault {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let entry = open_line(&cipher, &line)
            .with_context(|| format!("vault {} line {}", path.display(), n + 1))?;
        if wanted.contains(entry.pseudonym.as_str())
            && !found.iter().any(|e: &Entry| e.pseudonym == entry.pseudonym)
        {
            found.push(entry);
        }
    }
    Ok(found)
}

fn open_line(cipher: &XChaCha20Poly1305, line: &str) -> Result<Entry> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(line.trim())
        .map_err(|_| anyhow!("not base64"))?;
    if bytes.len() <= NONCE_BYTES {
        bail!("too short to be a vault entry");
    }
    let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
    let plaintext = cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: AAD,
            },
        )
        .map_err(|_| anyhow!("does not open with this vault key (wrong key or tampered file)"))?;
    serde_json::from_slice(&plaintext).context("decoding a vault entry")
}
