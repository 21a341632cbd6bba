//! The reader side of the hop: takes requests from the listener, reads and
//! checks bodies against the memory budget, and queues them for the worker.
//! `/health` and `/metrics` are answered here, so they stay live while the
//! worker is busy or draining.

use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};

use super::budget::Budget;
use super::stats::ServeStats;
use super::{Job, Reply, ServeLimits, busy, error, json_response, text_response, to_ndjson};
use crate::shutdown::Shutdown;

/// Reader threads: requests being read at once.
pub const READERS: usize = 8;

/// Step in which bodies of unknown length are counted into the budget.
const CHUNK: usize = 64 << 10;

/// How often an idle reader checks whether the hop has stopped.
const POLL: Duration = Duration::from_millis(100);

/// What the readers share with the worker and the command.
pub struct Shared {
    /// Counters.
    pub stats: ServeStats,
    /// The memory budget (`--buffer-kib`).
    pub budget: Budget,
    /// Shutdown state.
    pub shutdown: Arc<Shutdown>,
    /// `/ingest` requests being read or queued by a reader right now: the
    /// worker drains until this is zero.
    pub reading: AtomicUsize,
    /// Set when the worker has finished: the readers stop.
    pub stopped: AtomicBool,
}

/// The reader side: takes requests, reads and checks bodies, queues jobs.
pub struct Readers {
    /// The listener.
    pub server: Arc<tiny_http::Server>,
    /// Queue to the worker.
    pub jobs: mpsc::SyncSender<Job>,
    /// Limits.
    pub limits: ServeLimits,
    /// State shared with the worker.
    pub shared: Arc<Shared>,
}

/// Why a body was not queued: the answer to give.
pub(super) enum Refusal {
    Busy,
    TooLarge,
}

impl Refusal {
    /// Answer the refused request (`503` busy, `413` too large) and count it.
    pub(super) fn respond(self, stats: &ServeStats, request: tiny_http::Request) {
        match self {
            Self::Busy => {
                ServeStats::bump(&stats.requests_busy);
                let _ = request.respond(busy("buffer full"));
            }
            Self::TooLarge => {
                ServeStats::bump(&stats.requests_invalid);
                let _ =
                    request.respond(error(413, "request body unreadable or over --max-body-kib"));
            }
        }
    }
}

impl Readers {
    /// Start the reader threads.
    pub fn spawn(self) -> Result<Vec<thread::JoinHandle<()>>> {
        let me = Arc::new(self);
        let counter = Arc::new(AtomicU64::new(0));
        (0..READERS)
            .map(|i| {
                let (me, counter) = (Arc::clone(&me), Arc::clone(&counter));
                thread::Builder::new()
                    .name(format!("reader-{i}"))
                    .spawn(move || me.read_loop(&counter))
                    .context("starting a reader thread")
            })
            .collect()
    }

    fn read_loop(&self, counter: &AtomicU64) {
        while !self.shared.stopped.load(Ordering::SeqCst) {
            // An accept error (e.g. too many open files) is not fatal: the
            // next connection may succeed.
            let Ok(Some(request)) = self.server.recv_timeout(POLL) else {
                continue;
            };
            let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
            self.route(request, n);
        }
    }

    fn route(&self, request: tiny_http::Request, n: u64) {
        let stats = &self.shared.stats;
        let budget = &self.shared.budget;
        let route = (request.method().clone(), request.url().to_owned());
        match (route.0, route.1.as_str()) {
            (tiny_http::Method::Get, "/health") => {
                let _ = request.respond(json_response(200, stats.json(budget)));
            }
            (tiny_http::Method::Get, "/metrics") => {
                let _ = request.respond(text_response(stats.prometheus(budget)));
            }
            (tiny_http::Method::Post, path) if crate::otlp::Signal::from_path(path).is_some() => {
                let signal = crate::otlp::Signal::from_path(path).expect("checked");
                self.shared.reading.fetch_add(1, Ordering::SeqCst);
                if self.shared.shutdown.is_requested() {
                    ServeStats::bump(&stats.requests_draining);
                    let _ = request.respond(busy("shutting down"));
                } else {
                    super::otlp::ingest(self, request, n, signal);
                }
                self.shared.reading.fetch_sub(1, Ordering::SeqCst);
            }
            (tiny_http::Method::Post, "/ingest") => {
                // Counted before the shutdown check, so that the worker,
                // which checks in the other order, never misses a request.
                self.shared.reading.fetch_add(1, Ordering::SeqCst);
                if self.shared.shutdown.is_requested() {
                    ServeStats::bump(&stats.requests_draining);
                    let _ = request.respond(busy("shutting down"));
                } else {
                    self.ingest(request, n);
                }
                self.shared.reading.fetch_sub(1, Ordering::SeqCst);
            }
            _ => {
                ServeStats::bump(&stats.requests_invalid);
                let _ = request.respond(error(
                    404,
                    "POST NDJSON or a JSON array to /ingest, or OTLP/HTTP to /v1/logs or /v1/metrics",
                ));
            }
        }
    }

    fn ingest(&self, mut request: tiny_http::Request, n: u64) {
        let stats = &self.shared.stats;
        let body = match self.read_body(&mut request) {
            Ok(body) => body,
            Err(refusal) => return refusal.respond(stats, request),
        };
        let ndjson = match self.convert(body) {
            Ok(ndjson) => ndjson,
            Err(why) => {
                ServeStats::bump(&stats.requests_invalid);
                let _ = request.respond(error(400, &why));
                return;
            }
        };
        self.submit(request, ndjson, n, Reply::Ingest);
    }

    /// Queue request `n`'s records (already counted in the budget) for the
    /// worker, or answer 503 if the worker has finished draining.
    pub(super) fn submit(
        &self,
        request: tiny_http::Request,
        ndjson: Vec<u8>,
        n: u64,
        reply: Reply,
    ) {
        let peer = request
            .remote_addr()
            .map_or_else(|| "unknown".to_owned(), ToString::to_string);
        let job = Job {
            request,
            ndjson,
            source: format!("http request {n} from {peer}"),
            reply,
        };
        if let Err(mpsc::SendError(job)) = self.jobs.send(job) {
            self.shared.budget.release(job.ndjson.len());
            ServeStats::bump(&self.shared.stats.requests_draining);
            let _ = job.request.respond(busy("shutting down"));
        }
    }

    /// Read the body, counting it into the budget as it grows (all of it
    /// at once when its length is declared). On success exactly
    /// `body.len()` bytes are counted.
    pub(super) fn read_body(&self, request: &mut tiny_http::Request) -> Result<Vec<u8>, Refusal> {
        let budget = &self.shared.budget;
        let max = self.limits.max_body_bytes;
        let declared = request.body_length().unwrap_or(0);
        if declared > max {
            return Err(Refusal::TooLarge);
        }
        if !budget.try_reserve(declared) {
            return Err(Refusal::Busy);
        }
        let mut reserved = declared;
        let mut body = vec![0; declared];
        let mut len = 0;
        let reader = request.as_reader();
        let outcome = loop {
            if len == reserved {
                // Full: one byte tells the end of the body from more to come.
                let mut probe = [0u8; 1];
                match read_some(reader, &mut probe) {
                    Ok(0) => break Ok(()),
                    Ok(_) if len >= max => break Err(Refusal::TooLarge),
                    Ok(_) if !budget.try_reserve(CHUNK.min(max - len)) => {
                        break Err(Refusal::Busy);
                    }
                    Ok(_) => {
                        reserved += CHUNK.min(max - len);
                        body.resize(reserved, 0);
                        body[len] = probe[0];
                        len += 1;
                    }
                    Err(()) => break Err(Refusal::TooLarge),
                }
                continue;
            }
            match read_some(reader, &mut body[len..reserved]) {
                Ok(0) => break Ok(()),
                Ok(read) => len += read,
                Err(()) => break Err(Refusal::TooLarge),
            }
        };
        match outcome {
            Ok(()) => {
                budget.release(reserved - len);
                body.truncate(len);
                Ok(body)
            }
            Err(refusal) => {
                budget.release(reserved);
                Err(refusal)
            }
        }
    }

    /// The body as NDJSON; a JSON array is copied, and the copy is counted
    /// while both exist. On success exactly `ndjson.len()` bytes are counted.
    fn convert(&self, body: Vec<u8>) -> Result<Vec<u8>, String> {
        let budget = &self.shared.budget;
        let len = body.len();
        budget.add(len);
        let converted = to_ndjson(body);
        let counted = 2 * len;
        match converted {
            Ok(ndjson) => {
                budget.release(counted - ndjson.len().min(counted));
                Ok(ndjson)
            }
            Err(why) => {
                budget.release(counted);
                Err(why)
            }
        }
    }
}

/// `read`, retried when interrupted; an error is a body that cannot be read.
fn read_some(reader: &mut dyn Read, buf: &mut [u8]) -> Result<usize, ()> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            other => return other.map_err(|_| ()),
        }
    }
}
