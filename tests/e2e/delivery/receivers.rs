//! Loopback stand-ins for the HTTP destinations the agents deliver to: Splunk HEC (with
//! indexer acknowledgements), Elasticsearch/OpenSearch `_bulk`, the Datadog logs intake and a
//! generic webhook. Each decodes what it is sent back into events, keyed by `event_id`, so the
//! test can compare them record by record with `claude-audit run`.
//!
//! They misbehave the way the real services do, so the agents' retry paths are exercised:
//! Splunk refuses every third request (the first included) with 503 (“server is busy”) and acknowledges each batch
//! only on the second query for it; the first `_bulk` request gets a per-item failure (429,
//! `es_rejected_execution_exception`) for its first document. Nothing from a refused request
//! or a failed item is kept, so a missing event means the agent did not retry.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use flate2::read::GzDecoder;
use serde_json::{Value, json};

/// Which destination a receiver plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Splunk HEC `/services/collector/event` and `/services/collector/ack`.
    Splunk,
    /// Elasticsearch or OpenSearch `/_bulk`.
    Bulk,
    /// Datadog `/api/v2/logs` (a JSON array per request).
    Datadog,
    /// A generic webhook taking NDJSON.
    Webhook,
    /// Azure Monitor Logs Ingestion (Microsoft Sentinel): the Entra ID token endpoint
    /// (`…/oauth2/v2.0/token`, client-credentials grant) and
    /// `/dataCollectionRules/{dcr}/streams/{stream}` (a JSON array of rows).
    Sentinel,
    /// Google SecOps: the OAuth token endpoint (`/token`, JWT-bearer grant signed with the
    /// service account's key) and `/v2/unstructuredlogentries:batchCreate`.
    SecOps,
    /// PagerDuty Events v2 `/v2/enqueue` (one event per request; the routing key in the body).
    /// With `Seen::fail_first_item`, its first request is refused with 429 (rate limited).
    PagerDuty,
}

/// The client secret the Sentinel token endpoint insists on (test value).
pub const AZURE_CLIENT_SECRET: &str = "azure-test-client-secret";

/// What a receiver has seen.
#[derive(Debug, Default)]
pub struct Seen {
    /// Every delivery of each event, by `event_id`.
    pub events: BTreeMap<String, Vec<Value>>,
    /// Requests answered 503 on purpose.
    pub refused: usize,
    /// `_bulk` items answered as failed on purpose.
    pub failed_items: usize,
    /// Ack queries answered "not yet" on purpose.
    pub late_acks: usize,
    /// Ack queries answered "indexed".
    pub acks: usize,
    /// Requests with a missing or wrong credential (answered 401).
    pub unauthorized: usize,
    /// Access tokens issued by the token endpoint (Sentinel, SecOps).
    pub tokens: usize,
    /// Whether the first `_bulk` request gets a per-item failure.
    pub fail_first_item: bool,
    requests: usize,
    ack_queries: HashMap<u64, usize>,
    next_ack: u64,
}

/// A running receiver; it stops when dropped.
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Listen on an ephemeral loopback port.
    pub fn start(kind: Kind, credential: &str) -> Self {
        Self::start_on("127.0.0.1:0", kind, credential)
    }

    /// Listen on `addr` (a port chosen earlier, for the outage test).
    pub fn start_on(addr: &str, kind: Kind, credential: &str) -> Self {
        let server = Arc::new(tiny_http::Server::http(addr).expect("bind receiver"));
        let addr = server.server_addr().to_ip().expect("an IP address");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (s, srv, cred) = (seen.clone(), server.clone(), credential.to_string());
        let thread = std::thread::spawn(move || {
            for request in srv.incoming_requests() {
                handle(kind, &cred, &s, request);
            }
        });
        Self {
            addr,
            seen,
            server,
            thread: Some(thread),
        }
    }

    /// What it has seen so far.
    pub fn seen(&self) -> MutexGuard<'_, Seen> {
        self.seen.lock().unwrap()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The request body, gunzipped when it says so (or starts like gzip).
fn body(request: &mut tiny_http::Request) -> Vec<u8> {
    let mut raw = Vec::new();
    request
        .as_reader()
        .read_to_end(&mut raw)
        .expect("read body");
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .expect("gunzip body");
        return out;
    }
    raw
}

fn header(request: &tiny_http::Request, name: &'static str) -> Option<String> {
    request
        .headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str().to_string())
}

/// True when the request carries the credential the way this destination expects it.
fn authorized(kind: Kind, credential: &str, request: &tiny_http::Request) -> bool {
    let auth = header(request, "Authorization").unwrap_or_default();
    match kind {
        Kind::Splunk => auth == format!("Splunk {credential}"),
        Kind::Datadog => header(request, "DD-API-KEY").as_deref() == Some(credential),
        // Bulk: `ApiKey <key>` or Basic; the webhook: Bearer. The credential is in either.
        // Sentinel, SecOps: the access token their token endpoint issued (= the credential).
        Kind::Sentinel | Kind::SecOps => auth == format!("Bearer {credential}"),
        // The routing key is in the body: checked there.
        Kind::PagerDuty => true,
        Kind::Bulk | Kind::Webhook => {
            auth.ends_with(credential) || basic_password(&auth).as_deref() == Some(credential)
        }
    }
}

/// The password of a `Basic` Authorization header.
fn basic_password(auth: &str) -> Option<String> {
    use base64::Engine;
    let encoded = auth.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(_, p)| p.to_string())
}

fn respond(request: tiny_http::Request, status: u16, body: Value) {
    let header = tiny_http::Header::from_bytes("Content-Type", "application/json").unwrap();
    let response = tiny_http::Response::from_string(body.to_string())
        .with_status_code(status)
        .with_header(header);
    let _ = request.respond(response);
}

fn handle(kind: Kind, credential: &str, seen: &Mutex<Seen>, mut request: tiny_http::Request) {
    // Health checks and version probes: any GET is a healthy, recent cluster.
    if *request.method() == tiny_http::Method::Get || *request.method() == tiny_http::Method::Head {
        let version = json!({"version": {"number": "8.15.0", "distribution": "elasticsearch"},
                              "status": "green", "text": "HEC is healthy", "code": 17});
        return respond(request, 200, version);
    }
    if request.url().ends_with("/token") {
        return token(kind, credential, seen, request);
    }
    if !authorized(kind, credential, &request) {
        seen.lock().unwrap().unauthorized += 1;
        return respond(request, 401, json!({"text": "Invalid token", "code": 4}));
    }
    let url = request.url().to_string();
    let channel = header(&request, "X-Splunk-Request-Channel");
    let data = body(&mut request);
    let mut seen = seen.lock().unwrap();
    seen.requests += 1;
    let (status, answer) = match kind {
        Kind::Splunk if url.starts_with("/services/collector/ack") => splunk_ack(&mut seen, &data),
        Kind::Splunk => splunk_event(&mut seen, &data, channel.is_some()),
        Kind::Bulk => bulk(&mut seen, &data),
        Kind::Datadog => {
            let items: Vec<Value> = serde_json::from_slice(&data).expect("a JSON array");
            items.into_iter().for_each(|e| keep(&mut seen, e));
            (202, json!({}))
        }
        Kind::Webhook => {
            json_stream(&data)
                .into_iter()
                .for_each(|e| keep(&mut seen, e));
            (200, json!({"status": "accepted"}))
        }
        Kind::PagerDuty => pagerduty(&mut seen, &url, credential, &data),
        Kind::Sentinel => {
            assert!(url.contains("/dataCollectionRules/"), "Sentinel URL {url}");
            let rows: Vec<Value> = serde_json::from_slice(&data).expect("a JSON array");
            rows.into_iter().for_each(|e| keep(&mut seen, e));
            (204, json!({}))
        }
        Kind::SecOps => {
            assert!(
                url.ends_with("unstructuredlogentries:batchCreate"),
                "SecOps URL {url}"
            );
            let batch: Value = serde_json::from_slice(&data).expect("a JSON object");
            for entry in batch["entries"].as_array().expect("entries") {
                let text = entry["log_text"].as_str().expect("log_text");
                keep(
                    &mut seen,
                    serde_json::from_str(text).expect("log_text is the event"),
                );
            }
            (200, json!({}))
        }
    };
    drop(seen);
    respond(request, status, answer);
}

/// A token endpoint: an access token (= `credential`) for a well-formed grant, 401 otherwise.
/// Sentinel: the client-credentials grant with the configured client secret; SecOps: a
/// JWT-bearer grant (an assertion signed with the service account's key).
fn token(kind: Kind, credential: &str, seen: &Mutex<Seen>, mut request: tiny_http::Request) {
    let form = String::from_utf8(body(&mut request)).unwrap_or_default();
    let ok = match kind {
        Kind::Sentinel => {
            form.contains("grant_type=client_credentials")
                && form.contains(&format!("client_secret={AZURE_CLIENT_SECRET}"))
        }
        Kind::SecOps => form.contains("jwt-bearer") && form.contains("assertion=ey"),
        _ => false,
    };
    let mut seen = seen.lock().unwrap();
    if !ok {
        seen.unauthorized += 1;
        drop(seen);
        return respond(request, 401, json!({"error": "invalid_client"}));
    }
    seen.tokens += 1;
    drop(seen);
    let token = json!({"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600,
                       "access_token": credential});
    respond(request, 200, token);
}

/// The event's id in any profile: `event_id` (canonical), `event.id` (ECS), `metadata.uid`
/// (OCSF); for alert bodies, the alert id they carry (PagerDuty `dedup_key`, ticket
/// `correlation_id`).
pub fn event_id(event: &Value) -> Option<&str> {
    event["event_id"]
        .as_str()
        .or_else(|| event["event"]["id"].as_str())
        .or_else(|| event["metadata"]["uid"].as_str())
        .or_else(|| event["dedup_key"].as_str())
        .or_else(|| event["correlation_id"].as_str())
}

/// `/v2/enqueue`: one JSON object; 400 for a wrong routing key (as PagerDuty answers), 429 for
/// the first request, else 202 with the dedup key.
fn pagerduty(seen: &mut Seen, url: &str, credential: &str, data: &[u8]) -> (u16, Value) {
    assert!(url.ends_with("/v2/enqueue"), "PagerDuty URL {url}");
    let event: Value = serde_json::from_slice(data).expect("one JSON object per request");
    if event["routing_key"] != credential {
        seen.unauthorized += 1;
        return (
            400,
            json!({"status": "invalid event", "errors": ["routing_key"]}),
        );
    }
    if seen.requests == 1 && seen.fail_first_item {
        seen.refused += 1;
        return (429, json!({"status": "throttled"}));
    }
    let key = event["dedup_key"].clone();
    keep(seen, event);
    (
        202,
        json!({"status": "success", "message": "Event processed", "dedup_key": key}),
    )
}

fn keep(seen: &mut Seen, event: Value) {
    // An event without an id is kept under a key no reference event has: it fails the test.
    let id = event_id(&event).unwrap_or("<no event id>").to_string();
    seen.events.entry(id).or_default().push(event);
}

/// Concatenated or newline-separated JSON values.
fn json_stream(data: &[u8]) -> Vec<Value> {
    serde_json::Deserializer::from_slice(data)
        .into_iter::<Value>()
        .map(|v| v.expect("a JSON value in the body"))
        .collect()
}

/// HEC events: each `{"event": ..., "time": ...}`; the event may arrive as an object or as its
/// JSON text. Every third request, starting with the first, is refused before anything is kept.
fn splunk_event(seen: &mut Seen, data: &[u8], with_ack: bool) -> (u16, Value) {
    // The 1st, 4th, 7th… request: the first is always refused, so the
    // retry path is taken even when the agent sends everything at once.
    if seen.requests % 3 == 1 {
        seen.refused += 1;
        return (503, json!({"text": "Server is busy", "code": 9}));
    }
    for envelope in json_stream(data) {
        let event = match &envelope["event"] {
            Value::String(text) => serde_json::from_str(text).expect("event JSON text"),
            other => other.clone(),
        };
        keep(seen, event);
    }
    if !with_ack {
        return (200, json!({"text": "Success", "code": 0}));
    }
    let id = seen.next_ack;
    seen.next_ack += 1;
    (200, json!({"text": "Success", "code": 0, "ackId": id}))
}

/// `{"acks": [ids]}` -> `{"acks": {"id": bool}}`: each id is "not yet" on its first query.
fn splunk_ack(seen: &mut Seen, data: &[u8]) -> (u16, Value) {
    let query: Value = serde_json::from_slice(data).expect("ack query JSON");
    let mut answer = serde_json::Map::new();
    for id in query["acks"].as_array().expect("acks list") {
        let id = id.as_u64().expect("ack id");
        let asked = seen.ack_queries.entry(id).or_insert(0);
        *asked += 1;
        let done = *asked > 1;
        if done {
            seen.acks += 1;
        } else {
            seen.late_acks += 1;
        }
        answer.insert(id.to_string(), Value::Bool(done));
    }
    (200, json!({ "acks": answer }))
}

/// `_bulk`: action line + document line (`index`/`create`: the document; `update`: its `doc`).
/// The first request's first item fails with 429 and is not kept.
fn bulk(seen: &mut Seen, data: &[u8]) -> (u16, Value) {
    let lines = json_stream(data);
    let first_request = seen.requests == 1 && seen.fail_first_item;
    let mut items = Vec::new();
    for (n, pair) in lines.chunks(2).enumerate() {
        let (action, doc) = (&pair[0], &pair[1]);
        let (op, meta) = action.as_object().unwrap().iter().next().unwrap();
        let id = meta["_id"].as_str().unwrap_or_default().to_string();
        let doc = if op == "update" {
            doc["doc"].clone()
        } else {
            doc.clone()
        };
        if first_request && n == 0 {
            seen.failed_items += 1;
            let error = json!({"type": "es_rejected_execution_exception",
                               "reason": "rejected execution (queue capacity 200)"});
            items.push(json!({ op.as_str(): {"_id": id, "status": 429, "error": error} }));
            continue;
        }
        // Stored under its _id, as Elasticsearch does: the comparison with the reference then
        // checks both _id = event_id and the document itself.
        seen.events.entry(id.clone()).or_default().push(doc);
        items.push(json!({ op.as_str(): {"_id": id, "status": 201, "result": "created"} }));
    }
    let errors = items.iter().any(|i| i.to_string().contains("\"error\""));
    (200, json!({"took": 1, "errors": errors, "items": items}))
}
