//! The dead-letter output: every record that was not emitted, with its
//! source, line number, reason and raw bytes, so that nothing is lost.
//!
//! The file holds raw, unredacted input, so it is created with mode 0600
//! (and an existing file is narrowed to 0600 before anything is written).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine as _;
use serde::Serialize;

/// Where a rejected line came from and why it was rejected.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rejection<'a> {
    /// Input name (`<stdin>` for standard input).
    pub source: &'a str,
    /// One-based line number within the source.
    pub line: u64,
    /// Stable machine-readable reason (`invalid_json`, `plugin_trap`, ...).
    pub kind: &'a str,
    /// Dotted field path concerned, empty if none.
    pub field: &'a str,
    /// Human-readable reason; never contains record content.
    pub reason: &'a str,
}

/// One dead-letter record (one NDJSON line of the dead-letter file): the
/// rejection's fields, then the raw line.
#[derive(Debug, Serialize)]
pub struct DeadLetterRecord<'a> {
    /// Source, line, kind, field and reason.
    #[serde(flatten)]
    pub rejection: Rejection<'a>,
    /// The raw line as text, when it is valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<&'a str>,
    /// The raw line in base64, when it is not valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_base64: Option<String>,
    /// Full length of the line in bytes.
    pub length: u64,
    /// Whether `raw` holds only the first bytes of the line (over-long lines).
    pub raw_truncated: bool,
}

impl<'a> DeadLetterRecord<'a> {
    /// The record for `rejection` of a line of `length` bytes whose first
    /// bytes (all of them unless the line was over-long) are `bytes`.
    pub fn new(rejection: Rejection<'a>, bytes: &'a [u8], length: u64) -> Self {
        Self {
            rejection,
            raw: None,
            raw_base64: None,
            length,
            raw_truncated: (bytes.len() as u64) < length,
        }
        .with_raw(bytes)
    }

    /// Fill `raw` or `raw_base64` from the line's bytes.
    fn with_raw(mut self, bytes: &'a [u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.raw = Some(text),
            Err(_) => {
                self.raw_base64 = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
            }
        }
        self
    }
}

/// Writes dead-letter records to a private file.
pub struct DeadLetterWriter {
    path: PathBuf,
    out: BufWriter<File>,
    /// In held mode, records written since the last sync or discard: they
    /// reach the file only at the next [`DeadLetterWriter::sync`].
    held: Option<Vec<u8>>,
}

impl DeadLetterWriter {
    /// Create (or truncate) `path` with mode 0600.
    pub fn create(path: &Path) -> Result<Self> {
        let file = private_file(path)
            .with_context(|| format!("creating dead-letter file {}", path.display()))?;
        Ok(Self {
            path: path.to_owned(),
            out: BufWriter::new(file),
            held: None,
        })
    }

    /// Open `path` for appending (created with mode 0600 if missing),
    /// after cutting it back to `committed` bytes if given: a longer file
    /// holds dead letters of a run that died before its checkpoint, which
    /// the next run produces again.
    pub fn append(path: &Path, committed: Option<u64>) -> Result<Self> {
        let file = crate::output::append_committed(path, committed, "dead-letter file")?;
        Ok(Self {
            path: path.to_owned(),
            out: BufWriter::new(file),
            held: None,
        })
    }

    /// Hold records in memory until the next [`DeadLetterWriter::sync`]
    /// (or drop them at [`DeadLetterWriter::discard`]): `serve` writes a
    /// request's dead letters only once the request is acknowledged, so
    /// that an agent's retry does not write them twice.
    pub fn hold(mut self) -> Self {
        self.held = Some(Vec::new());
        self
    }

    /// Bytes held in memory (held mode), not yet in the file.
    pub fn held_bytes(&self) -> usize {
        self.held.as_ref().map_or(0, Vec::len)
    }

    /// Drop the records held since the last sync.
    pub fn discard(&mut self) {
        if let Some(held) = &mut self.held {
            held.clear();
        }
    }

    /// Write what is held, flush and fsync, and keep writing.
    pub fn sync(&mut self) -> Result<()> {
        if let Some(held) = &mut self.held {
            let result = self.out.write_all(held);
            held.clear();
            result.with_context(|| format!("writing dead-letter file {}", self.path.display()))?;
        }
        self.out
            .flush()
            .and_then(|()| self.out.get_ref().sync_all())
            .with_context(|| format!("flushing dead-letter file {}", self.path.display()))
    }

    /// Append one record.
    pub fn write(&mut self, record: &DeadLetterRecord<'_>) -> Result<()> {
        let context = || format!("writing dead-letter file {}", self.path.display());
        let out: &mut dyn Write = match &mut self.held {
            Some(held) => held,
            None => &mut self.out,
        };
        serde_json::to_writer(&mut *out, record).with_context(context)?;
        out.write_all(b"\n").with_context(context)?;
        Ok(())
    }

    /// Flush and fsync: dead letters are the only copy of rejected input.
    pub fn finish(mut self) -> Result<PathBuf> {
        self.sync()?;
        Ok(self.path)
    }
}

/// Open `path` for writing with mode 0600, truncating it.
pub fn private_file(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path)?;
        // `mode` applies only to new files; narrow an existing one too.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_records_reach_the_file_only_when_synced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dead.ndjson");
        let mut writer = DeadLetterWriter::append(&path, None).unwrap().hold();
        let rejection = Rejection {
            source: "s",
            line: 1,
            kind: "invalid_json",
            field: "",
            reason: "r",
        };
        writer
            .write(&DeadLetterRecord::new(rejection, b"x", 1))
            .unwrap();
        assert!(writer.held_bytes() > 0);
        writer.discard();
        writer.sync().unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"",
            "discarded: never written"
        );
        writer
            .write(&DeadLetterRecord::new(rejection, b"x", 1))
            .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"", "held until sync");
        writer.sync().unwrap();
        assert_eq!(
            std::fs::read(&path)
                .unwrap()
                .iter()
                .filter(|b| **b == b'\n')
                .count(),
            1
        );
        assert_eq!(writer.held_bytes(), 0);
    }
}
