//! Whole-process figures for `bench`: this very binary is started as a
//! child, as a user or an agent's `exec` input would start it, and measured
//! from the outside (wall time, CPU time and peak memory from `wait4`).
//!
//! - start-up: `run` on a one-record file, time until the first event line
//!   arrives on its standard output, and its peak resident memory;
//! - whole run: `run` from a file to a file, with full redaction, in
//!   events/s and MiB/s per CPU-second (per core).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

/// What `wait4` says about a finished child.
pub struct ChildUsage {
    /// Wall time from spawn to exit.
    pub wall: Duration,
    /// User + system CPU time.
    pub cpu: Duration,
    /// Peak resident set size, in bytes.
    pub max_rss: u64,
}

/// One start-up measurement.
pub struct StartUp {
    /// From spawn to the first event line on standard output.
    pub first_event: Duration,
    /// The whole child.
    pub usage: ChildUsage,
}

/// How to start `claude-audit run` for a measurement.
pub struct RunSpec<'a> {
    /// Work directory (dead letters and outputs go here).
    pub dir: &'a Path,
    /// `--plugin`, when the benchmark runs another plugin.
    pub plugin: Option<&'a Path>,
    /// `--workers`.
    pub workers: usize,
    /// `--config`, when the run needs settings (detections, GeoIP).
    pub config: Option<&'a Path>,
}

impl RunSpec<'_> {
    fn command(&self, input: &Path) -> Result<Command> {
        let exe = std::env::current_exe().context("finding this program's path")?;
        let mut cmd = Command::new(exe);
        cmd.arg("run")
            .arg("--ephemeral-key")
            .arg("--no-progress")
            .arg("--workers")
            .arg(self.workers.to_string())
            .arg("--dead-letter")
            .arg(self.dir.join("bench.dead-letter.ndjson"))
            .arg(input)
            .stdin(Stdio::null())
            .stderr(Stdio::null());
        if let Some(plugin) = self.plugin {
            cmd.arg("--plugin").arg(plugin);
        }
        if let Some(config) = self.config {
            cmd.arg("--config").arg(config);
        }
        Ok(cmd)
    }
}

/// Start `run` on `input` (one record or more) and time its first event.
pub fn start_up(spec: &RunSpec<'_>, input: &Path) -> Result<StartUp> {
    let mut cmd = spec.command(input)?;
    cmd.stdout(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().context("starting claude-audit run")?;
    let stdout = child.stdout.take().context("the child's standard output")?;
    let mut first = Vec::new();
    BufReader::new(stdout)
        .read_until(b'\n', &mut first)
        .context("reading the first event")?;
    let first_event = started.elapsed();
    let usage = wait(child, started)?;
    ensure!(
        first.ends_with(b"\n"),
        "the start-up run wrote no event (is the first record valid?)"
    );
    Ok(StartUp { first_event, usage })
}

/// `run` from `input` to a file; returns its usage.
pub fn whole_run(spec: &RunSpec<'_>, input: &Path) -> Result<ChildUsage> {
    let mut cmd = spec.command(input)?;
    cmd.arg("--output")
        .arg(spec.dir.join("bench.events.ndjson"))
        .stdout(Stdio::null());
    let started = Instant::now();
    let child = cmd.spawn().context("starting claude-audit run")?;
    wait(child, started)
}

/// Where the child runs' records come from.
pub enum Source<'a> {
    /// NDJSON already in memory (the bundled sample).
    Bytes(&'a [u8]),
    /// An NDJSON file, read as a stream: this process must stay small
    /// until the children have run, because on Linux a child inherits its
    /// parent's peak resident size in its own `ru_maxrss` at exec (with
    /// `posix_spawn`'s vfork and with fork alike), so a parent holding a
    /// large corpus would inflate the child's "peak memory".
    File(&'a Path),
}

/// A file of `records` records (the non-empty lines of `source`, cycled),
/// in `dir`.
pub fn corpus_file(dir: &Path, name: &str, source: &Source<'_>, records: u64) -> Result<PathBuf> {
    let path = dir.join(name);
    let file =
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let mut write = |line: &[u8]| {
        out.write_all(line)
            .and_then(|()| out.write_all(b"\n"))
            .with_context(|| format!("writing {}", path.display()))
    };
    let mut written = 0;
    while written < records {
        let before = written;
        match source {
            Source::Bytes(bytes) => {
                for line in claude_audit_plugin::lines(bytes).filter(|l| !l.is_empty()) {
                    if written == records {
                        break;
                    }
                    write(line)?;
                    written += 1;
                }
            }
            Source::File(input) => {
                let file = std::fs::File::open(input)
                    .with_context(|| format!("reading corpus {}", input.display()))?;
                let mut reader = BufReader::new(file);
                let mut line = Vec::new();
                while written < records {
                    line.clear();
                    let read = reader
                        .read_until(b'\n', &mut line)
                        .with_context(|| format!("reading corpus {}", input.display()))?;
                    if read == 0 {
                        break;
                    }
                    // The same framing as the in-memory corpus (`\r\n` too).
                    for record in claude_audit_plugin::lines(&line).filter(|l| !l.is_empty()) {
                        write(record)?;
                        written += 1;
                    }
                }
            }
        }
        ensure!(written > before, "the corpus holds no records");
    }
    out.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Reap `child` with `wait4`, which reports its own CPU time and peak
/// memory (std's `wait` does not).
fn wait(child: Child, started: Instant) -> Result<ChildUsage> {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet reaped (std's `Child` only
    // reaps in `wait`/`try_wait`, which are not called); both pointers
    // point to live, writable locals.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    if reaped != pid {
        bail!(
            "waiting for the benchmark child: {}",
            std::io::Error::last_os_error()
        );
    }
    // `run` exits 0 (all emitted) or 1 (some records dead-lettered): both
    // are finished runs. Anything else is a failed measurement.
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) > 1 {
        bail!("the benchmark child failed (wait status {status})");
    }
    let cpu = timeval(usage.ru_utime) + timeval(usage.ru_stime);
    Ok(ChildUsage {
        wall,
        cpu,
        max_rss: usage.ru_maxrss as u64 * 1024,
    })
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}
