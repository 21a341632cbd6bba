//! `claude-audit serve`: an HTTP hop between two agents (or an agent and a
//! SIEM). Agents POST NDJSON or a JSON array to `/ingest`; each request is
//! transformed by the sandboxed plugin and the events are POSTed on to the
//! downstream URL. The agent gets its answer only after the downstream
//! accepted the events:
//!
//! - `200` with counts: every record was forwarded, dead-lettered (to the
//!   local dead-letter file) or filtered by policy;
//! - `503` + `Retry-After`: the buffer is full (back-pressure), the hop is
//!   shutting down, or the downstream kept failing for
//!   `--forward-retry-secs`. The agent sends the request again; if the
//!   downstream had in fact taken the events (an answer lost on the way
//!   back), they arrive twice: delivery is at least once, and `event_id`
//!   de-duplicates;
//! - `4xx` for requests that can never succeed (bad framing, too large).
//!
//! So nothing is acknowledged that is not delivered, and the memory held for
//! requests is counted against `--buffer-kib` (`budget`).
//!
//! Threads: `readers::READERS` reader threads take requests from the
//! listener, read bodies and queue them; one `worker` owns the plugin
//! instance, transforms, forwards and answers; `/health` and `/metrics`
//! (`stats`) are answered by the readers. SIGTERM/SIGINT drain the hop
//! (`crate::shutdown`). With `--state FILE` the worker also checkpoints the
//! detection state (`checkpoint`).

pub mod budget;
pub mod checkpoint;
pub mod forward;
pub mod otlp;
pub mod readers;
pub mod stats;
pub mod worker;

use std::io::Cursor;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use serde::Serialize;
use serde_json::value::RawValue;

/// One accepted request, waiting for the worker.
pub struct Job {
    /// The request, answered by the worker.
    pub request: tiny_http::Request,
    /// Its records as NDJSON (counted in the budget).
    pub ndjson: Vec<u8>,
    /// Name used in dead letters (`http request N from ADDR`).
    pub source: String,
    /// How a `200` is answered.
    pub reply: Reply,
}

/// The form of a request's `200` answer.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    /// `/ingest`: the counts as JSON.
    Ingest,
    /// OTLP/HTTP: an export service response (`otlp::success`).
    Otlp(crate::otlp::Signal, crate::otlp::Encoding),
}

/// Limits of the hop.
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    /// Largest request body accepted; beyond it, 413.
    pub max_body_bytes: usize,
}

/// What a request gets back on success.
#[derive(Debug, Serialize)]
pub struct Accepted {
    records: u64,
    forwarded: u64,
    dead_lettered: u64,
    filtered: u64,
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

fn text_response(body: String) -> tiny_http::Response<Cursor<Vec<u8>>> {
    tiny_http::Response::from_string(body)
        .with_header(header("content-type", "text/plain; version=0.0.4"))
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
