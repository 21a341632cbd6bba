//! `claude-audit bench --evidence`: the evidence store's costs, against the
//! issue's targets.
//!
//! 1. `run` vs `run --evidence`: the same batches transformed in the
//!    sandbox and written to a file, without and with the store (an
//!    [`EvidenceSink`] around the file, as `run` does, checkpoints every
//!    100,000 events and at the end), fsyncs included;
//! 2. `verify` MiB/s over the store just written, against the floor of
//!    SHA-256 over every leaf (the leaf hashes alone), and their ratio;
//! 3. `report` over a store of `--report-events` events (the transformed
//!    events cycled), run as a child process: its time and peak RSS
//!    (its `VmHWM`, read until it exits).

use std::cell::RefCell;
use std::io::Write;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::bench_serve::proc_kib;
use crate::evidence::merkle;
use crate::evidence::note::SignerKey;
use crate::evidence::sink::{CheckpointPolicy, EvidenceSink};
use crate::evidence::store::{Store, StoreOptions};
use crate::evidence::verify::verify_store;
use crate::sandbox::PluginInstance;

/// What to measure.
pub struct EvidenceBench<'i> {
    /// The plugin, set up as `run` would.
    pub instance: &'i mut PluginInstance,
    /// Input batches (NDJSON).
    pub batches: &'i [Vec<u8>],
    /// Events in the report's store.
    pub report_events: u64,
}

const OPTIONS: StoreOptions = StoreOptions {
    checkpoint_every: 100_000,
    checkpoint_interval: Duration::from_secs(3600),
    segment_bytes: 64 << 20,
};

impl EvidenceBench<'_> {
    /// Run the three measurements and print them.
    pub fn run(mut self) -> Result<()> {
        let tmp = Scratch::new()?;
        let key = SignerKey::generate("bench.example/evidence")?;
        // Once to warm up (compilation caches, page cache), then measured.
        self.transform_to(&tmp.path().join("plain.ndjson"), None)?;
        let plain = self.transform_to(&tmp.path().join("plain.ndjson"), None)?;
        let store_dir = tmp.path().join("store");
        let store = Store::open(&store_dir, SignerKey::parse(&key.to_text())?, OPTIONS, None)?;
        let store = Rc::new(RefCell::new(store));
        let with = self.transform_to(&tmp.path().join("with.ndjson"), Some(store.clone()))?;
        store.borrow_mut().checkpoint()?;
        let (events, secs_plain) = plain;
        let secs_with = with.1;
        println!(
            "run:            {:>10.0} events/s without the store, {:>10.0} with: overhead {:.1}% \
             (target <= 10%)",
            events as f64 / secs_plain,
            events as f64 / secs_with,
            (1.0 - secs_plain / secs_with) * 100.0
        );
        drop(store);
        verify_figures(&store_dir, &key)?;
        self.report_figures(tmp.path(), &key, &tmp.path().join("plain.ndjson"))
    }

    /// Transform every batch and write the events to `path`, through the
    /// store when given: `(events, seconds)`.
    fn transform_to(
        &mut self,
        path: &Path,
        store: Option<crate::evidence::sink::SharedStore>,
    ) -> Result<(u64, f64)> {
        let started = Instant::now();
        let file = std::fs::File::create(path).context("creating the bench output")?;
        let mut out: Box<dyn Write> = Box::new(std::io::BufWriter::new(file));
        if let Some(store) = store {
            out = Box::new(EvidenceSink::new(out, store, CheckpointPolicy::Immediate));
        }
        let mut events = 0;
        for batch in self.batches {
            let output = match self.instance.process_batch(batch) {
                Ok(Ok(output)) => output,
                Ok(Err(e)) => bail!("the plugin refused the batch: {e:?}"),
                Err(failure) => bail!("{failure}"),
            };
            events += u64::from(output.counters.emitted);
            out.write_all(&output.records).context("writing events")?;
        }
        out.flush().context("flushing events")?;
        Ok((events, started.elapsed().as_secs_f64()))
    }

    /// A store of `report_events` events (the events in `events` cycled),
    /// then `claude-audit report` over it as a child: time and peak RSS.
    fn report_figures(&self, tmp: &Path, key: &SignerKey, events: &Path) -> Result<()> {
        let lines = std::fs::read(events).context("reading the bench events")?;
        let lines: Vec<&[u8]> = lines
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let dir = tmp.join("report-store");
        let mut store = Store::open(&dir, SignerKey::parse(&key.to_text())?, OPTIONS, None)?;
        for line in lines.iter().cycle().take(self.report_events as usize) {
            store.append(line)?;
        }
        store.checkpoint()?;
        drop(store);
        let key_file = tmp.join("bench.key");
        std::fs::write(&key_file, key.to_text()).context("writing the bench key")?;
        let exe = std::env::current_exe().context("locating claude-audit")?;
        let started = Instant::now();
        let child = std::process::Command::new(exe)
            .args([
                "report",
                "--framework",
                "soc2",
                "--from",
                "2020-01-01T00:00:00Z",
            ])
            .args(["--to", "2039-12-31T00:00:00Z", "--evidence"])
            .arg(&dir)
            .arg("--out")
            .arg(tmp.join("report"))
            .arg("--key-file")
            .arg(&key_file)
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("running claude-audit report")?;
        let (status, peak_kib) = wait_with_peak(child)?;
        let secs = started.elapsed().as_secs_f64();
        if !status.success() {
            bail!("claude-audit report failed: {status}");
        }
        println!(
            "report:         {} events in {secs:.2} s, peak RSS {:.1} MiB (targets < 10 s, bounded)",
            self.report_events,
            peak_kib as f64 / 1024.0
        );
        Ok(())
    }
}

/// A scratch directory under the system's temporary directory, removed
/// on drop.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new() -> Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "claude-audit-bench-evidence-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `verify` MiB/s, and SHA-256 of every leaf as the floor.
fn verify_figures(dir: &Path, key: &SignerKey) -> Result<()> {
    let started = Instant::now();
    let verified = verify_store(dir, &key.verifier())?
        .map_err(|f| anyhow::anyhow!("the bench store does not verify: {f}"))?;
    let secs = started.elapsed().as_secs_f64();
    let mib = verified.bytes as f64 / 1048576.0;
    let started = Instant::now();
    let mut hashed = 0u64;
    for segment in crate::evidence::layout::segments(dir)? {
        let data = std::fs::read(&segment.events).context("reading a segment")?;
        for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            hashed += u64::from(merkle::leaf_hash(line)[0]);
        }
    }
    let floor = started.elapsed().as_secs_f64();
    std::hint::black_box(hashed);
    println!(
        "verify:         {:>10.1} MiB/s; SHA-256 of every leaf {:>10.1} MiB/s; ratio {:.2} \
         (target >= 300 MiB/s on one core)",
        mib / secs,
        mib / floor,
        floor / secs
    );
    Ok(())
}

/// Wait for `child`, reading its peak RSS (`VmHWM` of `/proc/PID/status`,
/// KiB) until it exits. Not `getrusage(RUSAGE_CHILDREN)`: Linux carries
/// the parent's peak into a child's `ru_maxrss` across fork and exec, so
/// it reported the bench's own memory, not the report's.
fn wait_with_peak(mut child: std::process::Child) -> Result<(std::process::ExitStatus, u64)> {
    let mut peak = 0;
    loop {
        if let Some(status) = child
            .try_wait()
            .context("waiting for claude-audit report")?
        {
            return Ok((status, peak));
        }
        // VmHWM only grows; a read that races the exit keeps the last one.
        if let Ok(kib) = proc_kib(child.id(), "VmHWM:") {
            peak = peak.max(kib);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
