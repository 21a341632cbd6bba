//! A faithful fake of the Compliance API Activity Feed (SPEC §1–8), served
//! on loopback for `claude-audit pull` to walk.
//!
//! It implements what the SPEC documents: `x-api-key` authentication with
//! per-key scopes (401 before the rate limiter, 403 after), `order`
//! asc/desc sorted by `created_at` then id, opaque `after_id`/`before_id`
//! cursors (deliberately not equal to ids, so a client cannot build them),
//! `has_more`/`first_id`/`last_id` with nulls on an empty page, `limit`
//! 1..=5000 (default 100), the type/organization/actor filters, the
//! `created_at.*` bounds (RFC 3339 with a zone, else 400), the
//! `anthropic-ratelimit-*` and `request-id` headers, and error bodies taken
//! from the SPEC's fixtures. Faults are queued by the test and consumed one
//! per request (after authentication): 429 with `retry-after`, 500 with or
//! without `x-should-retry`, 503, 529, slow answers, a 400.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fake_content::{ContentAnswer, ContentStore, SCOPE_USER_DATA};
use crate::util::fixture;

/// The scope the Activity Feed needs.
pub const SCOPE_ACTIVITIES: &str = "read:compliance_activities";

/// One injected fault, consumed by the next authenticated request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// 429 with this `retry-after` (seconds), or none.
    RateLimited(Option<u64>),
    /// This 5xx status, with this `x-should-retry` header, if any.
    ServerError(u16, Option<bool>),
    /// Answer normally, after this delay.
    Slow(Duration),
    /// 400 with the body of this fixture under `errors/`.
    BadRequest(&'static str),
}

/// An activity the fake serves.
#[derive(Debug, Clone)]
struct Activity {
    id: String,
    created: i128,
    kind: String,
    org_ids: Vec<String>,
    actor_user_id: Option<String>,
    json: String,
}

impl Activity {
    fn from_json(line: &str) -> Self {
        let v: Value = serde_json::from_str(line).expect("fixture activity is JSON");
        let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_owned);
        Self {
            id: s("/id").expect("id"),
            created: parse_time(&s("/created_at").expect("created_at")).expect("created_at"),
            kind: s("/type").expect("type"),
            org_ids: [s("/organization_id"), s("/organization_uuid")]
                .into_iter()
                .flatten()
                .collect(),
            actor_user_id: s("/actor/user_id"),
            json: line.to_owned(),
        }
    }

    fn key(&self) -> (i128, &str) {
        (self.created, &self.id)
    }
}

/// What the fake holds and how it behaves.
#[derive(Debug, Default)]
pub struct FakeState {
    activities: Vec<Activity>,
    keys: HashMap<String, Vec<String>>,
    faults: VecDeque<Fault>,
    /// The content endpoints' data (SPEC §10).
    pub content: ContentStore,
    /// Query strings of every request, in order.
    pub requests: Vec<String>,
    /// Paths of every request, in order.
    pub paths: Vec<String>,
    /// Statuses answered, in order.
    pub statuses: Vec<u16>,
    /// Delay added to every answer.
    pub delay: Duration,
    /// Requests allowed per rate-limit window (the real API: 600).
    pub budget: u64,
    /// Length of a rate-limit window (the real API: one minute).
    pub window: Duration,
    window_start: Option<Instant>,
    used_in_window: u64,
}

impl FakeState {
    /// Give `key` these scopes (replacing its others).
    pub fn add_key_scopes(&mut self, key: &str, scopes: &[&str]) {
        self.keys.insert(
            key.to_owned(),
            scopes.iter().map(|s| (*s).to_owned()).collect(),
        );
    }

    /// Count one authenticated request against the budget: `(remaining,
    /// reset time)`, or `None` when the budget is spent (a 429).
    fn take_budget(&mut self) -> (Option<u64>, String) {
        let now = Instant::now();
        let start = match self.window_start {
            Some(s) if now.duration_since(s) < self.window => s,
            _ => {
                self.used_in_window = 0;
                self.window_start = Some(now);
                now
            }
        };
        let reset = time::OffsetDateTime::now_utc() + (self.window - now.duration_since(start));
        let reset = reset
            .format(&time::format_description::well_known::Rfc3339)
            .expect("format reset");
        if self.used_in_window >= self.budget {
            return (None, reset);
        }
        self.used_in_window += 1;
        (Some(self.budget - self.used_in_window), reset)
    }
}

/// A running fake API.
pub struct FakeApi {
    /// Base URL to give `pull` (`http://127.0.0.1:PORT`).
    pub base_url: String,
    state: Arc<Mutex<FakeState>>,
}

impl FakeApi {
    /// Serve the fixture feed, accepting `key` with the activities scope.
    pub fn start(key: &str) -> Self {
        let text = std::fs::read_to_string(fixture("activities.ndjson")).expect("fixture");
        let mut state = FakeState {
            budget: 600,
            window: Duration::from_secs(60),
            ..FakeState::default()
        };
        state.activities = text.lines().map(Activity::from_json).collect();
        state.activities.sort_by(|a, b| a.key().cmp(&b.key()));
        state
            .keys
            .insert(key.to_owned(), vec![SCOPE_ACTIVITIES.to_owned()]);
        let state = Arc::new(Mutex::new(state));
        let server = tiny_http::Server::http("127.0.0.1:0").expect("bind fake API");
        let addr: SocketAddr = server.server_addr().to_ip().expect("ip");
        let shared = Arc::clone(&state);
        thread::spawn(move || {
            for request in server.incoming_requests() {
                let shared = Arc::clone(&shared);
                // One thread per request, like a real server: a slow
                // answer must not hold up the client's retry.
                thread::spawn(move || answer(request, &shared));
            }
        });
        Self {
            base_url: format!("http://{addr}"),
            state,
        }
    }

    /// The state, to add keys, faults or activities, or read the log.
    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Accept `key` with these scopes.
    pub fn add_key(&self, key: &str, scopes: &[&str]) {
        self.state().keys.insert(
            key.to_owned(),
            scopes.iter().map(|s| (*s).to_owned()).collect(),
        );
    }

    /// Queue faults for the next authenticated requests.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.state().faults.extend(faults);
    }

    /// Make an activity visible now, wherever its `created_at` falls (an
    /// activity indexed late, possibly behind a client's cursor).
    pub fn add_activity(&self, json: &str) {
        let activity = Activity::from_json(json);
        let mut state = self.state();
        let at = state
            .activities
            .partition_point(|a| a.key() < activity.key());
        state.activities.insert(at, activity);
    }

    /// Number of requests answered so far.
    pub fn request_count(&self) -> usize {
        self.state().statuses.len()
    }
}

/// An HTTP answer.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    /// A body streamed in chunks instead of `body` (file content).
    stream: Option<Box<dyn std::io::Read + Send>>,
}

impl Answer {
    fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.to_string(),
            stream: None,
        }
    }

    fn fixture_error(status: u16, name: &str) -> Self {
        let body =
            std::fs::read_to_string(fixture(&format!("errors/{name}"))).expect("error fixture");
        Self {
            status,
            headers: Vec::new(),
            body,
            stream: None,
        }
    }

    fn invalid(message: &str) -> Self {
        Self::json(
            400,
            &json!({"error": {"type": "invalid_request_error", "message": message}}),
        )
    }

    fn header(mut self, name: &str, value: impl ToString) -> Self {
        self.headers.push((name.to_owned(), value.to_string()));
        self
    }
}

fn answer(request: tiny_http::Request, shared: &Mutex<FakeState>) {
    let key = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("x-api-key"))
        .map(|h| h.value.as_str().to_owned());
    let url = request.url().to_owned();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let (answer, delay) = {
        let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
        state.requests.push(query.to_owned());
        state.paths.push(path.to_owned());
        let (answer, delay) = respond(&mut state, path, query, key.as_deref());
        state.statuses.push(answer.status);
        (answer, delay + state.delay)
    };
    if !delay.is_zero() {
        thread::sleep(delay);
    }
    let request_number = shared.lock().map(|s| s.statuses.len()).unwrap_or(0);
    if let Some(stream) = answer.stream {
        // No length: tiny_http sends it chunked, as the API does.
        let mut headers = vec![header(
            "request-id",
            &format!("req_fake{request_number:08}"),
        )];
        headers.extend(answer.headers.iter().map(|(n, v)| header(n, v)));
        let response = tiny_http::Response::new(answer.status.into(), headers, stream, None, None);
        let _ = request.respond(response);
        return;
    }
    let mut response = tiny_http::Response::from_string(answer.body)
        .with_status_code(answer.status)
        .with_header(header("content-type", "application/json"))
        .with_header(header(
            "request-id",
            &format!("req_fake{request_number:08}"),
        ));
    for (name, value) in &answer.headers {
        response = response.with_header(header(name, value));
    }
    // The client may have given up (timeout): nothing to do then.
    let _ = request.respond(response);
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name, value).expect("valid header")
}

/// The answer to one request, and how long to wait before sending it.
fn respond(
    state: &mut FakeState,
    path: &str,
    query: &str,
    key: Option<&str>,
) -> (Answer, Duration) {
    let content_path = path.strip_prefix("/v1/compliance/apps/");
    if path != "/v1/compliance/activities" && content_path.is_none() {
        return (
            Answer::fixture_error(404, "404-organization-not-found.json"),
            Duration::ZERO,
        );
    }
    // Authentication comes before the rate limiter (SPEC §7).
    let Some(scopes) = key.and_then(|k| state.keys.get(k)).cloned() else {
        return (
            Answer::fixture_error(401, "401-invalid-api-key.json"),
            Duration::ZERO,
        );
    };
    // A valid key spends budget, even when it lacks the scope (SPEC §7).
    let (remaining, reset) = state.take_budget();
    let budget = state.budget;
    let rate = |a: Answer, remaining: u64| {
        a.header("anthropic-ratelimit-requests-limit", budget)
            .header("anthropic-ratelimit-requests-remaining", remaining)
            .header("anthropic-ratelimit-requests-reset", &reset)
    };
    let Some(remaining) = remaining else {
        let window_left = 1 + state.window.as_secs();
        let a =
            Answer::fixture_error(429, "429-rate-limit.json").header("retry-after", window_left);
        return (rate(a, 0), Duration::ZERO);
    };
    if content_path.is_some() && !scopes.iter().any(|s| s == SCOPE_USER_DATA) {
        // An Admin key, or a key without the user-data scope (SPEC §10).
        return (
            rate(
                Answer::fixture_error(403, "403-missing-scope-user-data.json"),
                remaining,
            ),
            Duration::ZERO,
        );
    }
    if content_path.is_none() && !scopes.iter().any(|s| s == SCOPE_ACTIVITIES) {
        return (
            rate(
                Answer::fixture_error(403, "403-missing-scope-activities.json"),
                remaining,
            ),
            Duration::ZERO,
        );
    }
    let mut delay = Duration::ZERO;
    match state.faults.pop_front() {
        Some(Fault::RateLimited(after)) => {
            // An injected 429 behaves like a window that resets when
            // `retry-after` (or one second) has passed.
            let reset = time::OffsetDateTime::now_utc() + Duration::from_secs(after.unwrap_or(1));
            let mut a = Answer::fixture_error(429, "429-rate-limit.json")
                .header("anthropic-ratelimit-requests-limit", budget)
                .header("anthropic-ratelimit-requests-remaining", 0)
                .header(
                    "anthropic-ratelimit-requests-reset",
                    reset
                        .format(&time::format_description::well_known::Rfc3339)
                        .expect("format reset"),
                );
            if let Some(after) = after {
                a = a.header("retry-after", after);
            }
            return (a, delay);
        }
        Some(Fault::ServerError(status, should_retry)) => {
            let mut a = match status {
                500 => Answer::fixture_error(500, "500-internal-deterministic.json"),
                529 => Answer::fixture_error(529, "529-overloaded.json"),
                _ => Answer::json(
                    status,
                    &json!({"error": {"type": "api_error", "message": "unavailable"}}),
                ),
            };
            if let Some(retry) = should_retry {
                a = a.header("x-should-retry", retry);
            }
            return (rate(a, remaining), delay);
        }
        Some(Fault::BadRequest(name)) => {
            return (rate(Answer::fixture_error(400, name), remaining), delay);
        }
        Some(Fault::Slow(d)) => delay = d,
        None => {}
    }
    let answer = match content_path {
        Some(p) => content(state, p, query),
        None => list(state, query),
    };
    (rate(answer, remaining), delay)
}

/// A content endpoint's answer as an HTTP answer.
fn content(state: &FakeState, path: &str, query: &str) -> Answer {
    match crate::fake_content::respond(&state.content, path, &parse_query(query)) {
        ContentAnswer::Json(status, body) => Answer::json(status, &body),
        ContentAnswer::NotFound(name) => Answer::fixture_error(404, name),
        ContentAnswer::Text(text) => Answer {
            status: 200,
            headers: Vec::new(),
            body: text,
            stream: None,
        },
        ContentAnswer::Stream { headers, body } => Answer {
            status: 200,
            headers,
            body: String::new(),
            stream: Some(body),
        },
    }
}

/// `GET /v1/compliance/activities` proper.
fn list(state: &FakeState, query: &str) -> Answer {
    let params = parse_query(query);
    let one = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let many = |name: &str| -> Vec<&str> {
        params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let limit = match one("limit").map(str::parse::<i64>) {
        None => 100,
        Some(Ok(n)) if (1..=5000).contains(&n) => n as usize,
        Some(Ok(n)) => {
            return Answer::invalid(&format!(
                "The limit parameter must be between 1 and 5000, inclusive. Got {n}."
            ));
        }
        Some(Err(_)) => return Answer::invalid("The limit parameter must be an integer."),
    };
    let ascending = match one("order") {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(other) => {
            return Answer::invalid(&format!("Invalid order {other:?}: use asc or desc."));
        }
    };
    let types = many("activity_types[]");
    let excluded = many("exclude_activity_types[]");
    if !types.is_empty() && !excluded.is_empty() {
        return Answer::invalid(
            "activity_types and exclude_activity_types are mutually exclusive.",
        );
    }
    let orgs = many("organization_ids[]");
    let mut actors = many("actor_ids[]");
    actors.extend(many("user_ids[]"));
    let mut bounds = Vec::new();
    for name in [
        "created_at.gte",
        "created_at.gt",
        "created_at.lte",
        "created_at.lt",
    ] {
        if let Some(text) = one(name) {
            let Ok(t) = parse_time(text) else {
                return Answer::invalid(&format!(
                    "The `{name}` parameter contains an invalid timestamp format. Timestamps \
                     must be provided in RFC 3339 format e.g., \"2024-03-01T00:00:00Z\". Got \"{text}\"."
                ));
            };
            bounds.push((name, t));
        }
    }
    let mut selected: Vec<&Activity> = state
        .activities
        .iter()
        .filter(|a| types.is_empty() || types.contains(&a.kind.as_str()))
        .filter(|a| !excluded.contains(&a.kind.as_str()))
        .filter(|a| orgs.is_empty() || a.org_ids.iter().any(|o| orgs.contains(&o.as_str())))
        .filter(|a| {
            actors.is_empty()
                || a.actor_user_id
                    .as_deref()
                    .is_some_and(|u| actors.contains(&u))
        })
        .filter(|a| {
            bounds.iter().all(|(name, t)| match *name {
                "created_at.gte" => a.created >= *t,
                "created_at.gt" => a.created > *t,
                "created_at.lte" => a.created <= *t,
                _ => a.created < *t,
            })
        })
        .collect();
    if !ascending {
        selected.reverse();
    }
    let (after, before) = (one("after_id"), one("before_id"));
    if after.is_some() && before.is_some() {
        return Answer::invalid("Only one of after_id and before_id may be given.");
    }
    let cursor = after.or(before);
    let cursor_key = match cursor.map(|c| decode_cursor(state, c)) {
        None => None,
        Some(Some(key)) => Some(key),
        Some(None) => {
            let name = if after.is_some() {
                "after_id"
            } else {
                "before_id"
            };
            return Answer::invalid(&format!(
                "Invalid `{name}`. No activity found for `{name}` \"{}\"",
                cursor.unwrap_or_default()
            ));
        }
    };
    // Positions in result order, relative to the cursor's activity (which
    // may itself be filtered out).
    let in_order = |a: &Activity, key: &(i128, String)| {
        let k = (a.created, a.id.clone());
        if ascending { k > *key } else { k < *key }
    };
    let (page, has_more): (Vec<&Activity>, bool) = match (&cursor_key, after.is_some()) {
        (None, _) => (
            selected.iter().take(limit).copied().collect(),
            selected.len() > limit,
        ),
        (Some(key), true) => {
            let rest: Vec<&Activity> = selected
                .iter()
                .copied()
                .filter(|a| in_order(a, key))
                .collect();
            (
                rest.iter().take(limit).copied().collect(),
                rest.len() > limit,
            )
        }
        (Some(key), false) => {
            // before_id: the page adjacent to the cursor, still in result order.
            let earlier: Vec<&Activity> = selected
                .iter()
                .copied()
                .filter(|a| !in_order(a, key) && (a.created, a.id.clone()) != *key)
                .collect();
            let start = earlier.len().saturating_sub(limit);
            (earlier[start..].to_vec(), start > 0)
        }
    };
    let data: Vec<Value> = page
        .iter()
        .map(|a| serde_json::from_str(&a.json).expect("stored JSON"))
        .collect();
    Answer::json(
        200,
        &json!({
            "data": data,
            "has_more": has_more,
            "first_id": page.first().map(|a| encode_cursor(&a.id)),
            "last_id": page.last().map(|a| encode_cursor(&a.id)),
        }),
    )
}

/// Cursors are opaque: `cur_` and the id reversed, so that they are
/// neither ids nor derivable by a client that assumes they are.
fn encode_cursor(id: &str) -> String {
    format!("cur_{}", id.chars().rev().collect::<String>())
}

fn decode_cursor(state: &FakeState, cursor: &str) -> Option<(i128, String)> {
    let id: String = cursor.strip_prefix("cur_")?.chars().rev().collect();
    state
        .activities
        .iter()
        .find(|a| a.id == id)
        .map(|a| (a.created, a.id.clone()))
}

fn parse_time(text: &str) -> Result<i128, time::error::Parse> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(time::OffsetDateTime::unix_timestamp_nanos)
}

/// `a=1&b%5B%5D=x+y` -> pairs, percent- and plus-decoded.
fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&text[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The fake against the SPEC's own examples and rules: a fake that drifts
/// from the real API would make the `pull` tests prove nothing.
mod conformance {
    use super::*;

    const KEY: &str = "sk-ant-api01-conformance";

    fn get(fake: &FakeApi, query: &str) -> (u16, Value) {
        let mut response = ureq::get(format!(
            "{}/v1/compliance/activities?{query}",
            fake.base_url
        ))
        .header("x-api-key", KEY)
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .expect("fake answers");
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().expect("body");
        (status, serde_json::from_str(&body).expect("JSON body"))
    }

    fn ids(page: &Value) -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn default_order_pages_match_the_spec_fixtures() {
        let fake = FakeApi::start(KEY);
        let mut query = "limit=25".to_owned();
        for n in 1..=3 {
            let (status, page) = get(&fake, &query);
            assert_eq!(status, 200);
            let expected: Value = serde_json::from_str(
                &std::fs::read_to_string(fixture(&format!("page-{n}.json"))).unwrap(),
            )
            .unwrap();
            assert_eq!(ids(&page), ids(&expected), "page {n}");
            assert_eq!(page["data"], expected["data"], "page {n}");
            assert_eq!(page["has_more"], true);
            let last = page["last_id"].as_str().unwrap();
            assert_ne!(
                Some(last),
                page["data"][24]["id"].as_str(),
                "cursors are opaque"
            );
            query = format!("limit=25&after_id={last}");
        }
    }

    #[test]
    fn ascending_cursors_and_before_id_walk_both_ways() {
        let fake = FakeApi::start(KEY);
        let (_, first) = get(&fake, "order=asc&limit=10");
        let (_, second) = get(
            &fake,
            &format!(
                "order=asc&limit=10&after_id={}",
                first["last_id"].as_str().unwrap()
            ),
        );
        let (_, back) = get(
            &fake,
            &format!(
                "order=asc&limit=10&before_id={}",
                second["first_id"].as_str().unwrap()
            ),
        );
        assert_eq!(
            ids(&back),
            ids(&first),
            "before_id returns the adjacent page, in order"
        );
        let mut all = ids(&first);
        all.extend(ids(&second));
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(all, sorted, "ascending ULID order");
        let (_, everything) = get(&fake, "order=asc&limit=5000");
        assert_eq!(everything["data"].as_array().unwrap().len(), 312);
        assert_eq!(everything["has_more"], false);
        let (_, empty) = get(
            &fake,
            &format!(
                "order=asc&after_id={}",
                everything["last_id"].as_str().unwrap()
            ),
        );
        assert_eq!(
            empty,
            json!({"data": [], "has_more": false, "first_id": null, "last_id": null})
        );
    }

    #[test]
    fn filters_and_bounds() {
        let fake = FakeApi::start(KEY);
        let (_, page) = get(&fake, "limit=5000&activity_types%5B%5D=claude_chat_created");
        assert!(!ids(&page).is_empty());
        assert!(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a["type"] == "claude_chat_created")
        );
        let (_, page) = get(
            &fake,
            "limit=5000&exclude_activity_types[]=compliance_api_accessed",
        );
        assert!(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a["type"] != "compliance_api_accessed")
        );
        let (_, all) = get(&fake, "limit=5000");
        let org = all["data"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|a| a["organization_id"].as_str())
            .unwrap()
            .to_owned();
        let (_, page) = get(&fake, &format!("limit=5000&organization_ids[]={org}"));
        assert!(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a["organization_id"] == org.as_str())
        );
        let (_, page) = get(&fake, "limit=5000&created_at.gte=2026-10-01T00:00:00Z");
        assert_eq!(
            page["data"].as_array().unwrap().len(),
            28,
            "era 2 has 28 records"
        );
        for bad in [
            "limit=0",
            "limit=5001",
            "created_at.gte=2026-05-18",
            "activity_types[]=a&exclude_activity_types[]=b",
            "after_id=activity_invalid123",
            "after_id=cur_x&before_id=cur_y",
            "order=sideways",
        ] {
            let (status, body) = get(&fake, bad);
            assert_eq!(status, 400, "{bad}");
            assert_eq!(body["error"]["type"], "invalid_request_error", "{bad}");
        }
    }
}
