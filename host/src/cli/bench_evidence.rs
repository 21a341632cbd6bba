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
//!    (its `VmHWM`, read while it runs).
//!
//! Each figure is given in wall time and in CPU time (this thread's for the
//! in-process steps, the child's user + system for `report`): on a shared
//! machine the wall figures fall with the load, the CPU figures do not, and
//! the targets are per core.

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
    /// Rounds of `run` without and with the store (alternating).
    pub rounds: u32,
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
        // Once to warm up (compilation caches, page cache), then rounds
        // that alternate without and with the store, so that a change in
        // the machine's load hits both; the medians are compared.
        let plain_path = tmp.path().join("plain.ndjson");
        self.transform_to(&plain_path, None)?;
        let store_dir = tmp.path().join("store");
        let (mut plain, mut with, mut events) = (Vec::new(), Vec::new(), 0);
        for _ in 0..self.rounds.max(1) {
            let (n, took) = self.transform_to(&plain_path, None)?;
            plain.push(took);
            events = n;
            // A fresh store each round: the last one stays for `verify`.
            let _ = std::fs::remove_dir_all(&store_dir);
            let store = Store::open(&store_dir, SignerKey::parse(&key.to_text())?, OPTIONS, None)?;
            let store = Rc::new(RefCell::new(store));
            let (_, took) =
                self.transform_to(&tmp.path().join("with.ndjson"), Some(store.clone()))?;
            with.push(took);
            store.borrow_mut().checkpoint()?;
        }
        for (clock, pick) in [("wall", Took::wall as fn(&Took) -> f64), ("cpu", Took::cpu)] {
            let (plain, with) = (median(&plain, pick), median(&with, pick));
            println!(
                "run ({clock:>4}):     {:>10.0} events/s without the store, {:>10.0} with: \
                 overhead {:.1}% (target <= 10%; median of {} alternating rounds)",
                events as f64 / plain,
                events as f64 / with,
                (1.0 - plain / with) * 100.0,
                self.rounds.max(1)
            );
        }
        verify_figures(&store_dir, &key)?;
        self.report_figures(tmp.path(), &key, &tmp.path().join("plain.ndjson"))
    }

    /// Transform every batch and write the events to `path`, through the
    /// store when given: `(events, time taken)`.
    fn transform_to(
        &mut self,
        path: &Path,
        store: Option<crate::evidence::sink::SharedStore>,
    ) -> Result<(u64, Took)> {
        let started = Stopwatch::start();
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
        Ok((events, started.took()))
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
        let mut child = std::process::Command::new(exe)
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
        let (status, peak_kib) = wait_watching_peak(&mut child)?;
        let secs = started.elapsed().as_secs_f64();
        if !status.success() {
            bail!("claude-audit report failed: {status}");
        }
        println!(
            "report:         {} events in {secs:.2} s wall, {:.2} s CPU, peak RSS {:.1} MiB \
             (targets < 10 s, bounded)",
            self.report_events,
            children_cpu_secs(),
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
    let started = Stopwatch::start();
    let verified = verify_store(dir, &key.verifier())?
        .map_err(|f| anyhow::anyhow!("the bench store does not verify: {f}"))?;
    let verify = started.took();
    let mib = verified.bytes as f64 / 1048576.0;
    let started = Stopwatch::start();
    let mut hashed = 0u64;
    for segment in crate::evidence::layout::segments(dir)? {
        let data = std::fs::read(&segment.events).context("reading a segment")?;
        for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            hashed += u64::from(merkle::leaf_hash(line)[0]);
        }
    }
    let floor = started.took();
    std::hint::black_box(hashed);
    for (clock, verify, floor) in [
        ("wall", verify.wall, floor.wall),
        ("cpu", verify.cpu, floor.cpu),
    ] {
        println!(
            "verify ({clock:>4}):  {:>10.1} MiB/s; SHA-256 of every leaf {:>10.1} MiB/s; ratio {:.2} \
             (target >= 300 MiB/s on one core)",
            mib / verify,
            mib / floor,
            floor / verify
        );
    }
    Ok(())
}

/// Wall and CPU seconds of one measured step.
#[derive(Clone, Copy)]
struct Took {
    wall: f64,
    cpu: f64,
}

impl Took {
    fn wall(&self) -> f64 {
        self.wall
    }

    fn cpu(&self) -> f64 {
        self.cpu
    }
}

/// The median of one clock over the rounds.
fn median(took: &[Took], pick: fn(&Took) -> f64) -> f64 {
    let mut values: Vec<f64> = took.iter().map(pick).collect();
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Starts a wall clock and this thread's CPU clock together.
struct Stopwatch {
    wall: Instant,
    cpu: f64,
}

impl Stopwatch {
    fn start() -> Self {
        Self {
            wall: Instant::now(),
            cpu: thread_cpu_secs(),
        }
    }

    fn took(&self) -> Took {
        Took {
            wall: self.wall.elapsed().as_secs_f64(),
            cpu: thread_cpu_secs() - self.cpu,
        }
    }
}

/// CPU time of the calling thread (Linux `CLOCK_THREAD_CPUTIME_ID`): the
/// store and `verify` run on the bench's thread, so this is their cost per
/// core whatever else the machine runs.
fn thread_cpu_secs() -> f64 {
    // SAFETY: clock_gettime fills the timespec we own.
    let mut now: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: as above; the clock id is a constant Linux defines.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    if rc == 0 {
        now.tv_sec as f64 + now.tv_nsec as f64 / 1e9
    } else {
        f64::NAN
    }
}

/// Wait for `child`, reading its peak RSS (`VmHWM` in `/proc/PID/status`)
/// every 10 ms. The peak is read from the child's own address space:
/// `getrusage(RUSAGE_CHILDREN)` would also count the bench's own pages,
/// which a spawned child shares until it executes the new program.
fn wait_watching_peak(child: &mut std::process::Child) -> Result<(std::process::ExitStatus, u64)> {
    let mut peak_kib = 0;
    loop {
        // Gone between two reads (exited): the last peak read stands.
        if let Ok(hwm) = proc_kib(child.id(), "VmHWM:") {
            peak_kib = peak_kib.max(hwm);
        }
        if let Some(status) = child
            .try_wait()
            .context("waiting for claude-audit report")?
        {
            return Ok((status, peak_kib));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// User + system CPU seconds of the children waited for (`report`).
fn children_cpu_secs() -> f64 {
    // SAFETY: getrusage fills the struct we own; no other memory involved.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    if rc != 0 {
        return f64::NAN;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}
