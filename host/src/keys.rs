//! Key material: where HMAC and vault keys come from, and how they are read.
//!
//! Keys come from files or environment variables, never from the
//! configuration file itself, and are never printed: [`Secret`]'s `Debug`
//! hides the bytes and every error names the source, not the content.
//!
//! A key source holds either raw bytes or hex text (e.g. the output of
//! `openssl rand -hex 32`); surrounding white space is ignored.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use serde::Deserialize;

/// Shortest HMAC key accepted, in bytes.
pub const MIN_HMAC_KEY_BYTES: usize = 32;
/// Vault keys are XChaCha20-Poly1305 keys: exactly 32 bytes.
pub const VAULT_KEY_BYTES: usize = 32;
/// Id of the key made up by `--ephemeral-key`.
pub const EPHEMERAL_KEY_ID: &str = "ephemeral";

/// Secret bytes whose `Debug` output never shows them.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret(<{} bytes>)", self.0.len())
    }
}

/// Where a key is read from: exactly one of `file` or `env`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeySource {
    /// A file holding the key.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// An environment variable holding the key.
    #[serde(default)]
    pub env: Option<String>,
}

/// An HMAC key entry of `[keys]`: a source plus the id recorded on events.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HmacKeyConfig {
    /// Key id written to `redaction_metadata.key_id` and into pseudonyms.
    pub id: String,
    /// Where the key is read from.
    #[serde(flatten)]
    pub source: KeySource,
}

/// A loaded HMAC key.
#[derive(Debug, Clone)]
pub struct HmacKey {
    /// Key id.
    pub id: String,
    /// Key bytes.
    pub secret: Secret,
}

impl KeySource {
    /// Read the key's bytes, with a message naming the source on failure.
    pub fn load(&self, what: &str) -> Result<Secret> {
        Ok(Secret(decode(self.read(what)?)))
    }

    /// Read a text token (an API key): surrounding white space removed,
    /// never hex-decoded; empty or multi-line values are refused.
    pub fn load_token(&self, what: &str) -> Result<Secret> {
        let raw = self.read(what)?;
        let token = raw.trim_ascii();
        ensure!(!token.is_empty(), "{what} ({}) is empty", self.describe());
        ensure!(
            token.iter().all(|b| b.is_ascii_graphic()),
            "{what} ({}) holds white space or control characters inside the key",
            self.describe()
        );
        Ok(Secret(token.to_vec()))
    }

    /// Read an HTTP header value (`Splunk <token>`): surrounding white
    /// space removed; empty values and control characters are refused.
    pub fn load_header_value(&self, what: &str) -> Result<Secret> {
        let raw = self.read(what)?;
        let value = raw.trim_ascii();
        ensure!(!value.is_empty(), "{what} ({}) is empty", self.describe());
        ensure!(
            value.iter().all(|b| *b == b' ' || b.is_ascii_graphic()),
            "{what} ({}) holds control characters",
            self.describe()
        );
        Ok(Secret(value.to_vec()))
    }

    /// Where the key comes from, for messages: "file /path" or
    /// "environment variable VAR". Never the key.
    pub fn describe(&self) -> String {
        match (&self.file, &self.env) {
            (Some(path), _) => format!("file {}", path.display()),
            (None, Some(var)) => format!("environment variable {var}"),
            (None, None) => "no source".to_owned(),
        }
    }

    fn read(&self, what: &str) -> Result<Vec<u8>> {
        Ok(match (&self.file, &self.env) {
            (Some(path), None) => read_key_file(path, what)?,
            (None, Some(var)) => std::env::var(var)
                .with_context(|| format!("reading {what} from environment variable {var}"))?
                .into_bytes(),
            _ => bail!("{what}: give exactly one of `file` or `env`"),
        })
    }
}

fn read_key_file(path: &Path, what: &str) -> Result<Vec<u8>> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading {what} file {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            eprintln!(
                "claude-audit: warning: {what} file {} is readable by other users; chmod 600 it",
                path.display()
            );
        }
    }
    Ok(bytes)
}

/// Hex text becomes bytes; anything else is taken as raw bytes. The rule is
/// the plugin's, shared with the Fluent Bit filter, so that one key file
/// gives the same pseudonyms in both.
fn decode(raw: Vec<u8>) -> Vec<u8> {
    claude_audit_plugin::filter::decode_key(&raw)
}

/// Load an HMAC key and check its length.
pub fn load_hmac(config: &HmacKeyConfig) -> Result<HmacKey> {
    let what = format!("HMAC key `{}`", config.id);
    let secret = config.source.load(&what)?;
    ensure!(
        secret.bytes().len() >= MIN_HMAC_KEY_BYTES,
        "{what} is {} bytes long; at least {MIN_HMAC_KEY_BYTES} are needed \
         (make one with: openssl rand -hex 32)",
        secret.bytes().len()
    );
    ensure!(
        !config.id.is_empty() && !config.id.contains(':'),
        "HMAC key id `{}` must be non-empty and without `:`",
        config.id
    );
    Ok(HmacKey {
        id: config.id.clone(),
        secret,
    })
}

/// Load a vault key (exactly 32 bytes).
pub fn load_vault_key(source: &KeySource) -> Result<Secret> {
    let secret = source.load("vault key")?;
    ensure!(
        secret.bytes().len() == VAULT_KEY_BYTES,
        "the vault key must be {VAULT_KEY_BYTES} bytes (64 hex characters; make one with: \
         openssl rand -hex 32), not {} bytes",
        secret.bytes().len()
    );
    Ok(secret)
}

/// A random key for this run only.
pub fn ephemeral_hmac_key() -> Result<HmacKey> {
    let mut bytes = vec![0u8; MIN_HMAC_KEY_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("drawing a random ephemeral key")?;
    Ok(HmacKey {
        id: EPHEMERAL_KEY_ID.to_owned(),
        secret: Secret(bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_text_and_raw_bytes() {
        let hex_key = "ab".repeat(32);
        assert_eq!(decode(format!("{hex_key}\n").into_bytes()), vec![0xab; 32]);
        assert_eq!(
            decode(b"  raw key bytes  ".to_vec()),
            b"raw key bytes".to_vec()
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret(b"supersecretvalue".to_vec());
        assert!(!format!("{s:?}").contains("supersecret"));
    }

    #[test]
    fn a_source_needs_exactly_one_place() {
        let both = KeySource {
            file: Some("/x".into()),
            env: Some("Y".into()),
        };
        assert!(both.load("k").is_err());
        let none = KeySource {
            file: None,
            env: None,
        };
        assert!(none.load("k").is_err());
    }
}
