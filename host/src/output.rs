//! Output writers whose `flush` means "durable": files are fsynced, and
//! standard output is flushed (and fsynced when it is a file).
//!
//! `run` relies on this for "finished means on disk"; `pull` relies on it
//! to move its checkpoint only past output that is safe.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Buffer size of output writers.
pub const IO_BUFFER_BYTES: usize = 256 << 10;

/// Something whose written data can be made durable.
pub trait Persist {
    /// Push written data to stable storage.
    fn persist(&self) -> io::Result<()>;
}

impl Persist for File {
    fn persist(&self) -> io::Result<()> {
        self.sync_all()
    }
}

impl Persist for io::Stdout {
    /// fsync fd 1 when it is a file; a pipe, socket or terminal cannot be
    /// fsynced (the reader owns the data then), which is not an error.
    fn persist(&self) -> io::Result<()> {
        #[cfg(unix)]
        {
            // SAFETY: fsync on fd 1, which this process owns; no memory involved.
            if unsafe { libc::fsync(1) } != 0 {
                let e = io::Error::last_os_error();
                if !matches!(
                    e.raw_os_error(),
                    Some(libc::EINVAL | libc::ENOTSUP | libc::EROFS)
                ) {
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

/// A buffered writer whose `flush` also syncs: a file or standard output.
pub struct Durable<W: Write + Persist>(BufWriter<W>);

impl<W: Write + Persist> Durable<W> {
    /// Wrap `inner`.
    pub fn new(inner: W) -> Self {
        Self(BufWriter::with_capacity(IO_BUFFER_BYTES, inner))
    }
}

impl<W: Write + Persist> Write for Durable<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()?;
        self.0.get_ref().persist()
    }
}

/// Open `path` for appending (mode 0600 when created). With `committed`,
/// first cut the file back to that many bytes: what lies beyond was
/// written by a run that died before its checkpoint, and will be written
/// again. A file shorter than `committed` was rotated or truncated by
/// someone else: that is reported, and writing goes on at its end.
pub fn append_committed(path: &Path, committed: Option<u64>, what: &str) -> Result<File> {
    let mut options = OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options
        .open(path)
        .with_context(|| format!("opening {what} {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // `mode` applies only to new files; narrow an existing one too.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {what} {} to mode 0600", path.display()))?;
    }
    cut_back(file, path, committed, what)
}

fn cut_back(file: File, path: &Path, committed: Option<u64>, what: &str) -> Result<File> {
    let len = file
        .metadata()
        .with_context(|| format!("reading the size of {what} {}", path.display()))?
        .len();
    match committed {
        Some(c) if len > c => {
            file.set_len(c)
                .and_then(|()| file.sync_all())
                .with_context(|| {
                    format!("cutting uncommitted bytes off {what} {}", path.display())
                })?;
            eprintln!(
                "claude-audit: {what} {}: removed {} bytes written after the last checkpoint \
                 (they will be written again)",
                path.display(),
                len - c
            );
        }
        Some(c) if len < c => eprintln!(
            "claude-audit: warning: {what} {} is shorter ({len} bytes) than at the last \
             checkpoint ({c} bytes): rotated or truncated by someone else; appending",
            path.display()
        ),
        _ => {}
    }
    Ok(file)
}

/// The current length of `path`, or an error naming it.
pub fn file_len(path: &Path, what: &str) -> Result<u64> {
    match path.metadata() {
        Ok(m) => Ok(m.len()),
        Err(e) => {
            bail!(
                "{what} {} disappeared while being written: {e}",
                path.display()
            )
        }
    }
}

/// Replace the file at `path` with `bytes`, atomically and durably: write a
/// sibling `<path>.tmp` (mode 0600), fsync it, rename it over `path`, fsync
/// the directory. A crash leaves the old content or the new, never a torn
/// file. Used for the poller's checkpoint and the detection state file.
pub fn replace_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = crate::dead_letter::private_file(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)?.sync_all()
}
