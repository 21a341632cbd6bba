//! `claude-audit bench --serve-memory`: resident memory of `serve` under a
//! burst at its buffer limit, against the bound the README documents.
//!
//! Starts the real binary (`serve`, this executable) on loopback with a
//! throw-away key, a local downstream that answers 200 after a delay (a slow
//! downstream keeps the buffer full), and `clients` agents posting bodies of
//! `--max-body-kib` as fast as they are taken (retrying 503 as agents do).
//! Reports resident memory after start-up and its peak (`VmHWM`), the hop's
//! own count of held bytes, and the documented bound. Then stops the hop
//! with SIGTERM and checks that it drained and exited 0.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

/// What to measure.
#[derive(Debug, Clone, Copy)]
pub struct ServeMemoryBench {
    /// `--buffer-kib` of the hop.
    pub buffer_kib: u32,
    /// `--max-body-kib` of the hop; every body is about this size.
    pub max_body_kib: u32,
    /// Concurrent agents.
    pub clients: u32,
    /// Requests each agent gets answered 200.
    pub requests: u32,
    /// Downstream delay per request, in milliseconds.
    pub downstream_delay_ms: u64,
}

/// Memory figures of `/proc/PID/status`, in KiB.
pub(super) fn proc_kib(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context("reading /proc (the benchmark needs Linux)")?;
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .strip_suffix(" kB")?
                .parse()
                .ok()
        })
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

impl ServeMemoryBench {
    /// Run the benchmark and print its figures.
    pub fn run(&self, corpus: &[u8]) -> Result<()> {
        ensure!(
            self.max_body_kib <= self.buffer_kib,
            "--max-body-kib must not exceed --buffer-kib"
        );
        let dir = scratch_dir()?;
        let result = self.measure(corpus, &dir);
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    fn measure(&self, corpus: &[u8], dir: &Path) -> Result<()> {
        let downstream = Downstream::start(Duration::from_millis(self.downstream_delay_ms))?;
        let mut hop = self.start_hop(dir, &downstream.url)?;
        let pid = hop.child.id();
        let body = Arc::new(body_of(corpus, (self.max_body_kib as usize) << 10));
        let start_rss = proc_kib(pid, "VmRSS:")?;
        let answered = Arc::new(AtomicU64::new(0));
        let refused = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let clients: Vec<_> = (0..self.clients)
            .map(|_| {
                let (url, body) = (hop.ingest.clone(), Arc::clone(&body));
                let (answered, refused) = (Arc::clone(&answered), Arc::clone(&refused));
                let requests = self.requests;
                thread::spawn(move || agent(&url, &body, requests, &answered, &refused))
            })
            .collect();
        for client in clients {
            client
                .join()
                .map_err(|_| anyhow::anyhow!("a client panicked"))??;
        }
        let elapsed = started.elapsed();
        let peak_rss = proc_kib(pid, "VmHWM:")?;
        let health: serde_json::Value = serde_json::from_str(
            &ureq::get(hop.ingest.replace("/ingest", "/health"))
                .call()?
                .body_mut()
                .read_to_string()?,
        )?;
        let code = hop.stop()?;
        self.report(
            start_rss,
            peak_rss,
            &health,
            elapsed,
            body.len(),
            &answered,
            &refused,
        );
        ensure!(
            code == Some(0),
            "serve did not exit 0 after SIGTERM (got {code:?})"
        );
        println!("SIGTERM: drained and exited 0");
        Ok(())
    }

    #[expect(clippy::too_many_arguments, reason = "one report line per figure")]
    fn report(
        &self,
        start_rss: u64,
        peak_rss: u64,
        health: &serde_json::Value,
        elapsed: Duration,
        body_len: usize,
        answered: &AtomicU64,
        refused: &AtomicU64,
    ) {
        let answered = answered.load(Ordering::Relaxed);
        let mib = |kib: u64| kib as f64 / 1024.0;
        let held = health["buffered_bytes_high_water"].as_u64().unwrap_or(0);
        println!(
            "serve: --buffer-kib {} --max-body-kib {}; {} agents x {} bodies of {} KiB; downstream {} ms",
            self.buffer_kib,
            self.max_body_kib,
            self.clients,
            self.requests,
            body_len >> 10,
            self.downstream_delay_ms
        );
        println!(
            "answered 200: {answered} ({:.1} MiB/s of input), 503 (retried): {}, in {:.1}s",
            (answered as f64 * body_len as f64) / (1 << 20) as f64 / elapsed.as_secs_f64(),
            refused.load(Ordering::Relaxed),
            elapsed.as_secs_f64()
        );
        println!(
            "resident: {:.1} MiB after start-up, peak {:.1} MiB: growth {:.1} MiB",
            mib(start_rss),
            mib(peak_rss),
            mib(peak_rss.saturating_sub(start_rss))
        );
        println!(
            "held for requests (counted against --buffer-kib): peak {:.2} MiB of {:.2} MiB",
            held as f64 / (1 << 20) as f64,
            mib(u64::from(self.buffer_kib))
        );
    }

    fn start_hop(&self, dir: &Path, forward: &str) -> Result<Hop> {
        start_hop(dir, forward, self.buffer_kib, self.max_body_kib)
    }
}

/// Start `serve` (this executable) on loopback with a throw-away key.
pub(super) fn start_hop(
    dir: &Path,
    forward: &str,
    buffer_kib: u32,
    max_body_kib: u32,
) -> Result<Hop> {
    let key = dir.join("hmac.key");
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("drawing a key: {e}"))?;
    std::fs::write(&key, hex::encode(bytes)).context("writing the throw-away key")?;
    let exe = std::env::current_exe().context("locating this executable")?;
    let mut child = Command::new(exe)
        .args(["serve", "--listen", "127.0.0.1:0", "--forward", forward])
        .arg("--buffer-kib")
        .arg(buffer_kib.to_string())
        .arg("--max-body-kib")
        .arg(max_body_kib.to_string())
        .arg("--hmac-key-file")
        .arg(&key)
        .arg("--dead-letter")
        .arg(dir.join("dead-letter.ndjson"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting serve")?;
    let stderr = child.stderr.take().context("serve's stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let ingest = loop {
        let Some(line) = lines.next().transpose()? else {
            bail!("serve exited before listening");
        };
        if let Some(rest) = line.strip_prefix("claude-audit: serve: listening on ") {
            break rest.split(',').next().unwrap_or_default().to_owned();
        }
    };
    // Keep draining stderr so that the hop never blocks on it.
    thread::spawn(move || lines.for_each(drop));
    Ok(Hop { child, ingest })
}

/// A running hop.
pub(super) struct Hop {
    /// The `serve` process.
    pub(super) child: Child,
    /// Its `/ingest` URL.
    pub(super) ingest: String,
}

impl Hop {
    /// SIGTERM, then wait (bounded) for the exit code.
    pub(super) fn stop(&mut self) -> Result<Option<i32>> {
        // SAFETY: kill(2) on our own child's pid; no memory involved.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let until = Instant::now() + Duration::from_secs(60);
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.code());
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        bail!("serve did not stop within 60 s of SIGTERM")
    }
}

/// Post `body` until `requests` were answered 200, retrying 503.
fn agent(
    url: &str,
    body: &[u8],
    requests: u32,
    answered: &AtomicU64,
    refused: &AtomicU64,
) -> Result<()> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut done = 0;
    while done < requests {
        let status = agent.post(url).send(body)?.status().as_u16();
        match status {
            200 => {
                done += 1;
                answered.fetch_add(1, Ordering::Relaxed);
            }
            503 => {
                refused.fetch_add(1, Ordering::Relaxed);
                thread::sleep(Duration::from_millis(5));
            }
            other => bail!("serve answered {other}"),
        }
    }
    Ok(())
}

/// A local downstream: reads and drops each body (counting its lines),
/// answers 200 after `delay`.
pub(super) struct Downstream {
    /// Where to forward.
    pub(super) url: String,
    /// Lines received.
    pub(super) lines: Arc<AtomicU64>,
}

impl Downstream {
    pub(super) fn start(delay: Duration) -> Result<Self> {
        let lines = Arc::new(AtomicU64::new(0));
        let server =
            Arc::new(tiny_http::Server::http("127.0.0.1:0").map_err(|e| anyhow::anyhow!("{e}"))?);
        let addr = server.server_addr().to_ip().context("downstream address")?;
        for _ in 0..2 {
            let (server, lines) = (Arc::clone(&server), Arc::clone(&lines));
            thread::spawn(move || {
                for mut request in server.incoming_requests() {
                    let mut body = Vec::new();
                    let _ = std::io::Read::read_to_end(request.as_reader(), &mut body);
                    let n = memchr::memchr_iter(b'\n', &body).count();
                    lines.fetch_add(n as u64, Ordering::Relaxed);
                    thread::sleep(delay);
                    let _ = request.respond(tiny_http::Response::empty(200));
                }
            });
        }
        Ok(Self {
            url: format!("http://{addr}/events"),
            lines,
        })
    }
}

/// Whole corpus lines cycled up to `size` bytes.
fn body_of(corpus: &[u8], size: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(size);
    let lines = corpus.split(|b| *b == b'\n').filter(|l| !l.is_empty());
    for line in lines.cycle() {
        if body.len() + line.len() + 1 > size {
            break;
        }
        body.extend_from_slice(line);
        body.push(b'\n');
    }
    body
}

/// A private scratch directory for the key and the dead letters.
pub(super) fn scratch_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("claude-audit-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).context("creating the scratch directory")?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(dir)
}
