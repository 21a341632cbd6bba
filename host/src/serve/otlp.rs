//! OTLP/HTTP on `serve`: `POST /v1/logs` and `POST /v1/metrics`, so that
//! Claude Code (or an agent's OpenTelemetry output) can export straight to
//! the hop. The request is read against the same memory budget as
//! `/ingest`, gunzipped, split into records (`crate::otlp`) and queued for
//! the worker like any other job; only the answer differs:
//!
//! - `200` + `ExportLogsServiceResponse` / `ExportMetricsServiceResponse`
//!   in the request's encoding: `{}`, or `partialSuccess` with the number of
//!   records dead-lettered (the client must not retry those);
//! - `503` + `Retry-After` (buffer full, shutting down, downstream down) and
//!   `502` (downstream refused) as for `/ingest`: OTLP clients retry them;
//! - `400` for a body that is not a valid export request, `415` for a
//!   content type other than JSON or protobuf, `413` past `--max-body-kib`
//!   (compressed or expanded).
//!
//! gRPC is not served: Claude Code speaks OTLP/HTTP too
//! (`OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf` or `http/json`).

use std::io::Cursor;

use super::readers::Readers;
use super::stats::ServeStats;
use super::{Accepted, Reply, error, header};
use crate::otlp::{self, Encoding, Signal};

/// Read, decode and queue one OTLP request.
pub fn ingest(readers: &Readers, mut request: tiny_http::Request, n: u64, signal: Signal) {
    let stats = &readers.shared.stats;
    let budget = &readers.shared.budget;
    let encoding = header_value(&request, "content-type")
        .as_deref()
        .and_then(Encoding::from_content_type);
    let Some(encoding) = encoding else {
        ServeStats::bump(&stats.requests_invalid);
        let _ = request.respond(error(
            415,
            "OTLP/HTTP bodies are application/json or application/x-protobuf",
        ));
        return;
    };
    let gzip = header_value(&request, "content-encoding")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    let body = match readers.read_body(&mut request) {
        Ok(body) => body,
        Err(refusal) => return refusal.respond(stats, request),
    };
    let received = body.len();
    let decoded = decode(&body, gzip, signal, encoding, readers.limits.max_body_bytes);
    drop(body);
    let ndjson = match decoded {
        Ok(ndjson) => ndjson,
        Err(why) => {
            budget.release(received);
            ServeStats::bump(&stats.requests_invalid);
            let _ = request.respond(error(400, &format!("{why:#}")));
            return;
        }
    };
    // The budget now holds the records instead of the body.
    budget.add(ndjson.len());
    budget.release(received);
    readers.submit(request, ndjson, n, Reply::Otlp(signal, encoding));
}

fn decode(
    body: &[u8],
    gzip: bool,
    signal: Signal,
    encoding: Encoding,
    max: usize,
) -> anyhow::Result<Vec<u8>> {
    if gzip {
        let plain = otlp::gunzip(body, max)?;
        otlp::split(signal, encoding, &plain)
    } else {
        otlp::split(signal, encoding, body)
    }
}

/// The `200` answer to an OTLP request.
pub fn success(
    signal: Signal,
    encoding: Encoding,
    accepted: &Accepted,
) -> tiny_http::Response<Cursor<Vec<u8>>> {
    let body = otlp::response(signal, encoding, accepted.dead_lettered);
    tiny_http::Response::from_data(body)
        .with_status_code(200)
        .with_header(header("content-type", encoding.content_type()))
}

fn header_value(request: &tiny_http::Request, name: &str) -> Option<String> {
    request
        .headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str().to_owned())
}
