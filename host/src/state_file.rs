//! The detection state file of `run --state FILE`: read at start, replaced
//! atomically at the end (temporary file with mode 0600, fsync, rename,
//! fsync of the directory), so that a crash leaves the old state or the new
//! one, never a torn file. The content is the plugin's versioned export
//! (pseudonyms only); the host does not interpret it.

use std::path::Path;

use anyhow::{Context, Result};

/// The saved state, or `None` when the file does not exist yet.
pub fn load(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading detection state {}", path.display())),
    }
}

/// Replace the file at `path` with `bytes`, atomically and durably.
pub fn save(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::output::replace_file(path, bytes)
        .with_context(|| format!("writing detection state {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_then_load_round_trips_and_a_missing_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert!(load(&path).unwrap().is_none());
        save(&path, b"{\"version\":1}").unwrap();
        save(&path, b"{\"version\":1,\"x\":2}").unwrap();
        assert_eq!(load(&path).unwrap().unwrap(), b"{\"version\":1,\"x\":2}");
        assert!(!dir.path().join("state.json.tmp").exists());
    }
}
