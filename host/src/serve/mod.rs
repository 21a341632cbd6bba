//! `claude-audit serve`: an HTTP hop between two agents (or an agent and a
//! SIEM). Agents POST NDJSON or a JSON array to `/ingest`; each request is
//! transformed by the sandboxed plugin and the events are POSTed on to the
//! downstream URL. The agent gets its answer only after the downstream
//! accepted the events:
//!
//! - `200` with counts: every record was forwarded, dead-lettered (to the
//!   local dead-letter file) or filtered by policy;
//! - `503` + `Retry-After`: the buffer is full (back-pressure), or the
//!   downstream kept failing for `--forward-retry-secs`. The agent sends
//!   the request again; if the downstream had in fact taken the events
//!   (an answer lost on the way back), they arrive twice: delivery is at
//!   least once, and `event_id` de-duplicates;
//! - `4xx` for requests that can never succeed (bad framing, too large).
//!
//! So nothing is acknowledged that is not delivered, and the memory held is
//! bounded by `--buffer-kib` plus one request being read per reader thread.
//!
//! Threads: `READERS` reader threads take requests from the listener, read
//! bodies and queue them; one worker owns the plugin instance (a wasmtime
//! store is single-threaded), transforms, forwards and answers. One worker
//! also keeps the downstream order equal to the acceptance order.

pub mod forward;

use std::io::{Cursor, Read, Write};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

use anyhow::{Context, Result, anyhow};
use serde::Serialize;
use serde_json::value::RawValue;

use self::forward::{ForwardError, Forwarder};
use crate::runner::Runner;

/// Reader threads: requests being read at once.
pub const READERS: usize = 8;

/// One accepted request, waiting for the worker.
pub struct Job {
    /// The request, answered by the worker.
    pub request: tiny_http::Request,
    /// Its records as NDJSON.
    pub ndjson: Vec<u8>,
    /// Name used in dead letters (`http request N from ADDR`).
    pub source: String,
}

/// Limits of the hop.
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    /// Most bytes queued or being processed; beyond it, 503.
    pub buffer_bytes: usize,
    /// Largest request body accepted; beyond it, 413.
    pub max_body_bytes: usize,
}

/// Counters since start, for `GET /health` and the exit summary.
#[derive(Debug, Default, Serialize)]
pub struct ServeStats {
    /// Requests answered 200.
    pub requests_ok: AtomicU64,
    /// Requests refused with 503 (buffer full or downstream down).
    pub requests_busy: AtomicU64,
    /// Requests refused as invalid (4xx).
    pub requests_invalid: AtomicU64,
    /// Records received in accepted requests.
    pub records: AtomicU64,
    /// Events forwarded downstream.
    pub forwarded: AtomicU64,
    /// Records dead-lettered.
    pub dead_lettered: AtomicU64,
    /// Records filtered by policy.
    pub filtered: AtomicU64,
    /// Downstream attempts retried.
    pub forward_retries: AtomicU64,
    /// Bytes queued or in processing now.
    pub buffered_bytes: AtomicUsize,
}

/// What a request gets back on success.
#[derive(Debug, Serialize)]
struct Accepted {
    records: u64,
    forwarded: u64,
    dead_lettered: u64,
    filtered: u64,
}

/// The reader side: takes requests, reads and checks bodies, queues jobs.
pub struct Readers {
    /// The listener.
    pub server: Arc<tiny_http::Server>,
    /// Queue to the worker.
    pub jobs: mpsc::SyncSender<Job>,
    /// Limits.
    pub limits: ServeLimits,
    /// Shared counters.
    pub stats: Arc<ServeStats>,
}

impl Readers {
    /// Start the reader threads.
    pub fn spawn(self) -> Result<Vec<thread::JoinHandle<()>>> {
        let shared = Arc::new(self);
        let counter = Arc::new(AtomicU64::new(0));
        (0..READERS)
            .map(|i| {
                let me = Arc::clone(&shared);
                let counter = Arc::clone(&counter);
                thread::Builder::new()
                    .name(format!("reader-{i}"))
                    .spawn(move || me.read_loop(&counter))
                    .context("starting a reader thread")
            })
            .collect()
    }

    fn read_loop(&self, counter: &AtomicU64) {
        for request in self.server.incoming_requests() {
            let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
            let route = (request.method().clone(), request.url().to_owned());
            match route {
                (tiny_http::Method::Get, url) if url == "/health" => {
                    let body = serde_json::to_string(&*self.stats).unwrap_or_default();
                    let _ = request.respond(json_response(200, body));
                }
                (tiny_http::Method::Post, url) if url == "/ingest" => {
                    self.ingest(request, n);
                }
                _ => {
                    let _ = request.respond(error(404, "POST NDJSON or a JSON array to /ingest"));
                }
            }
        }
    }

    fn ingest(&self, mut request: tiny_http::Request, n: u64) {
        let declared = request.body_length().unwrap_or(0);
        if declared > self.limits.max_body_bytes {
            self.stats.requests_invalid.fetch_add(1, Ordering::Relaxed);
            let _ = request.respond(error(413, "request body over --max-body-kib"));
            return;
        }
        let mut body = Vec::with_capacity(declared);
        let read = request
            .as_reader()
            .take(self.limits.max_body_bytes as u64 + 1)
            .read_to_end(&mut body);
        if read.is_err() || body.len() > self.limits.max_body_bytes {
            self.stats.requests_invalid.fetch_add(1, Ordering::Relaxed);
            let _ = request.respond(error(413, "request body unreadable or over --max-body-kib"));
            return;
        }
        let ndjson = match to_ndjson(body) {
            Ok(ndjson) => ndjson,
            Err(why) => {
                self.stats.requests_invalid.fetch_add(1, Ordering::Relaxed);
                let _ = request.respond(error(400, &why));
                return;
            }
        };
        if !self.reserve(ndjson.len()) {
            self.stats.requests_busy.fetch_add(1, Ordering::Relaxed);
            let _ = request.respond(busy("buffer full"));
            return;
        }
        let peer = request
            .remote_addr()
            .map_or_else(|| "unknown".to_owned(), ToString::to_string);
        let job = Job {
            request,
            ndjson,
            source: format!("http request {n} from {peer}"),
        };
        if let Err(mpsc::SendError(job)) = self.jobs.send(job) {
            self.release(job.ndjson.len());
            let _ = job.request.respond(busy("shutting down"));
        }
    }

    /// Count `bytes` into the buffer, if they fit.
    fn reserve(&self, bytes: usize) -> bool {
        let buffered = &self.stats.buffered_bytes;
        let mut current = buffered.load(Ordering::Acquire);
        loop {
            // An empty buffer takes any request that passed the body limit,
            // so that a body larger than the buffer is not refused forever.
            if current > 0 && current + bytes > self.limits.buffer_bytes {
                return false;
            }
            match buffered.compare_exchange(
                current,
                current + bytes,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => current = now,
            }
        }
    }

    fn release(&self, bytes: usize) {
        self.stats.buffered_bytes.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// The worker: transforms, forwards, answers. Runs until the queue closes.
pub fn work(
    runner: &mut Runner<'_>,
    events: &SharedBuffer,
    jobs: mpsc::Receiver<Job>,
    forwarder: &Forwarder,
    stats: &ServeStats,
) -> Result<()> {
    for job in jobs {
        let size = job.ndjson.len();
        let answer = process(runner, events, &job, forwarder, stats);
        stats.buffered_bytes.fetch_sub(size, Ordering::AcqRel);
        let response = match answer {
            Ok(accepted) => {
                stats.requests_ok.fetch_add(1, Ordering::Relaxed);
                json_response(200, serde_json::to_string(&accepted).unwrap_or_default())
            }
            Err(ForwardError::Unavailable(why)) => {
                stats.requests_busy.fetch_add(1, Ordering::Relaxed);
                eprintln!(
                    "claude-audit: serve: {}: downstream unavailable: {why}",
                    job.source
                );
                busy("downstream unavailable")
            }
            Err(ForwardError::Refused(why)) => {
                eprintln!(
                    "claude-audit: serve: {}: downstream refused the events: {why}",
                    job.source
                );
                error(502, "the downstream refused the events; see the hop's log")
            }
            Err(ForwardError::Local(e)) => return Err(e),
        };
        let _ = job.request.respond(response);
    }
    Ok(())
}

fn process(
    runner: &mut Runner<'_>,
    events: &SharedBuffer,
    job: &Job,
    forwarder: &Forwarder,
    stats: &ServeStats,
) -> Result<Accepted, ForwardError> {
    let before = runner.summary();
    runner
        .run_source(&job.source, Cursor::new(&job.ndjson), &mut |_| {})
        .map_err(ForwardError::Local)?;
    // Dead letters are durable before the agent hears "200".
    runner.commit().map_err(ForwardError::Local)?;
    let after = runner.summary();
    let ndjson = events.take();
    let accepted = Accepted {
        records: after.read - before.read,
        forwarded: after.emitted - before.emitted,
        dead_lettered: after.dead_lettered - before.dead_lettered,
        filtered: after.filtered - before.filtered,
    };
    if !ndjson.is_empty() {
        forwarder.send(&ndjson, stats)?;
    }
    stats.records.fetch_add(accepted.records, Ordering::Relaxed);
    stats
        .forwarded
        .fetch_add(accepted.forwarded, Ordering::Relaxed);
    stats
        .dead_lettered
        .fetch_add(accepted.dead_lettered, Ordering::Relaxed);
    stats
        .filtered
        .fetch_add(accepted.filtered, Ordering::Relaxed);
    Ok(accepted)
}

/// The runner's output: events of the current request.
#[derive(Clone, Default)]
pub struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    /// Take what was written.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A body as NDJSON: NDJSON stays as it is; a JSON array (first non-blank
/// byte `[`) becomes one line per element.
pub fn to_ndjson(body: Vec<u8>) -> Result<Vec<u8>, String> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'[') {
        return Ok(body);
    }
    let items: Vec<&RawValue> = serde_json::from_slice(&body).map_err(|e| {
        format!(
            "the body starts with `[` but is not a JSON array: {}",
            e.classify_name()
        )
    })?;
    let mut out = Vec::with_capacity(body.len());
    for item in items {
        // Array elements may be pretty-printed; JSON strings hold no raw
        // line breaks, so dropping them keeps one record per line.
        out.extend(item.get().bytes().filter(|b| *b != b'\n' && *b != b'\r'));
        out.push(b'\n');
    }
    Ok(out)
}

/// The name of a serde_json error category, without the input's content.
trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "not an array",
            serde_json::error::Category::Eof => "unexpected end",
        }
    }
}

fn json_response(status: u16, body: String) -> tiny_http::Response<Cursor<Vec<u8>>> {
    tiny_http::Response::from_string(body)
        .with_status_code(status)
        .with_header(header("content-type", "application/json"))
}

fn error(status: u16, message: &str) -> tiny_http::Response<Cursor<Vec<u8>>> {
    json_response(status, serde_json::json!({ "error": message }).to_string())
}

fn busy(message: &str) -> tiny_http::Response<Cursor<Vec<u8>>> {
    error(503, message).with_header(header("retry-after", "1"))
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name, value).expect("static header is valid")
}

/// Bind the listener.
pub fn listen(addr: std::net::SocketAddr) -> Result<Arc<tiny_http::Server>> {
    let server = tiny_http::Server::http(addr)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("listening on {addr}"))?;
    Ok(Arc::new(server))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_become_ndjson_and_ndjson_stays() {
        assert_eq!(
            to_ndjson(b"{\"a\":1}\n{\"b\":2}\n".to_vec()).unwrap(),
            b"{\"a\":1}\n{\"b\":2}\n"
        );
        assert_eq!(
            to_ndjson(b" [ {\"a\":\n 1}, {\"b\":\"x\\ny\"} ]".to_vec()).unwrap(),
            b"{\"a\": 1}\n{\"b\":\"x\\ny\"}\n"
        );
        let e = to_ndjson(b"[{\"ssn\":\"123-45-6789\"".to_vec()).unwrap_err();
        assert!(!e.contains("123-45"), "{e}");
    }
}
