//! `claude-audit bench --otlp`: Claude Code telemetry over OTLP/HTTP JSON
//! through `serve` (this executable, on loopback) to a local downstream, at a
//! target rate for a duration (default 10,000 records/s for 30 s), or as fast
//! as the hop takes them (`--rate 0`).
//!
//! Clients replay the shared logs fixture (15 Claude Code records, sent as
//! requests of 10 copies: 150 records) and retry `503`s as an OTLP exporter
//! does. Reports records/s offered and delivered, the hop's CPU time (records
//! per CPU-second = per core), peak resident memory and the count of `503`s,
//! and fails unless the downstream received every record sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use super::bench_serve::{Downstream, proc_kib, scratch_dir, start_hop};

/// The Claude Code logs fixture (one `ExportLogsServiceRequest`).
const FIXTURE: &str =
    include_str!("../../../tests/fixtures/claude-code/otlp-logs-claude-code.json");

/// Copies of the fixture's records per request.
const COPIES: usize = 10;

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct OtlpBench {
    /// Records per second offered, over all clients (0: as fast as taken).
    pub rate: u32,
    /// How long to send.
    pub secs: u32,
    /// Concurrent exporters.
    pub clients: u32,
}

impl OtlpBench {
    /// Run the benchmark and print its figures.
    pub fn run(&self) -> Result<()> {
        let dir = scratch_dir()?;
        let result = self.measure(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    fn measure(&self, dir: &std::path::Path) -> Result<()> {
        let (body, per_request) = request_body()?;
        let downstream = Downstream::start(Duration::ZERO)?;
        let mut hop = start_hop(dir, &downstream.url, 65_536, 16_384)?;
        let url = hop.ingest.replace("/ingest", "/v1/logs");
        let pid = hop.child.id();
        let cpu_before = cpu_ticks(pid)?;
        let sent = Arc::new(AtomicU64::new(0));
        let busy = Arc::new(AtomicU64::new(0));
        let body = Arc::new(body);
        let started = Instant::now();
        let clients: Vec<_> = (0..self.clients)
            .map(|c| {
                let (url, body, sent, busy) = (
                    url.clone(),
                    Arc::clone(&body),
                    Arc::clone(&sent),
                    Arc::clone(&busy),
                );
                let me = *self;
                thread::spawn(move || me.client(c, &url, &body, per_request, &sent, &busy))
            })
            .collect();
        for client in clients {
            client
                .join()
                .map_err(|_| anyhow::anyhow!("a client panicked"))??;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = (cpu_ticks(pid)? - cpu_before) as f64 / ticks_per_second();
        let peak_kib = proc_kib(pid, "VmHWM:")?;
        let code = hop.stop()?;
        let sent = sent.load(Ordering::Relaxed);
        let received = downstream.lines.load(Ordering::Relaxed);
        println!(
            "otlp/http json -> serve -> downstream: {sent} records in {elapsed:.1} s from {} clients \
             ({:.0} records/s offered{})",
            self.clients,
            sent as f64 / elapsed,
            if self.rate == 0 {
                ", unpaced".to_owned()
            } else {
                format!(", target {}", self.rate)
            },
        );
        println!(
            "hop CPU {cpu:.1} s: {:.0} records per CPU-second (per core); peak resident {:.1} MiB; \
             503s answered {}",
            sent as f64 / cpu.max(1e-9),
            peak_kib as f64 / 1024.0,
            busy.load(Ordering::Relaxed)
        );
        println!(
            "delivered {received} of {sent} (lost {})",
            sent.saturating_sub(received)
        );
        ensure!(
            received == sent,
            "records were lost: {received} delivered of {sent} sent"
        );
        ensure!(
            code == Some(0),
            "serve did not exit 0 after SIGTERM (got {code:?})"
        );
        Ok(())
    }

    /// One exporter: sends requests on schedule until the time is up.
    fn client(
        &self,
        index: u32,
        url: &str,
        body: &[u8],
        per_request: u64,
        sent: &AtomicU64,
        busy: &AtomicU64,
    ) -> Result<()> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let interval = (self.rate > 0).then(|| {
            Duration::from_secs_f64(
                per_request as f64 * f64::from(self.clients) / f64::from(self.rate),
            )
        });
        let start = Instant::now();
        let until = start + Duration::from_secs(u64::from(self.secs));
        // Spread the clients over one interval.
        let mut next = start + interval.map_or(Duration::ZERO, |i| i * index / self.clients);
        while next < until {
            let now = Instant::now();
            if next > now {
                thread::sleep(next - now);
            }
            loop {
                let status = agent
                    .post(url)
                    .header("content-type", "application/json")
                    .send(body)
                    .context("posting to serve")?
                    .status()
                    .as_u16();
                match status {
                    200 => break,
                    429 | 503 => {
                        busy.fetch_add(1, Ordering::Relaxed);
                        thread::sleep(Duration::from_millis(5));
                    }
                    other => anyhow::bail!("serve answered {other}"),
                }
            }
            sent.fetch_add(per_request, Ordering::Relaxed);
            next = match interval {
                Some(i) => next + i,
                None => Instant::now(),
            };
        }
        Ok(())
    }
}

/// The fixture with its records repeated `COPIES` times, compact.
fn request_body() -> Result<(Vec<u8>, u64)> {
    let mut request: Value = serde_json::from_str(FIXTURE).context("the bundled fixture")?;
    let mut records = 0;
    for rl in request["resourceLogs"]
        .as_array_mut()
        .context("resourceLogs")?
    {
        let list = rl["scopeLogs"][0]["logRecords"]
            .as_array_mut()
            .context("logRecords")?;
        let once = list.clone();
        for _ in 1..COPIES {
            list.extend(once.iter().cloned());
        }
        records += list.len() as u64;
    }
    Ok((serde_json::to_vec(&request)?, records))
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).context("reading /proc")?;
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .context("short /proc stat")?
            .parse()
            .context("/proc stat field")
    };
    // After the command name: state is field 0, utime 11, stime 12.
    Ok(field(11)? + field(12)?)
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no memory effects.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}
