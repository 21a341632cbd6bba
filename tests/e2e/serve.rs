//! `claude-audit serve` on loopback: a burst through a flaky receiver,
//! back-pressure, same events as `run`, refusals.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{BIN, Sandbox, fixture, read_ndjson, stderr};

/// A downstream receiver that can fail.
pub struct Receiver {
    pub url: String,
    /// Every line received in 2xx-answered requests.
    pub lines: Arc<Mutex<Vec<String>>>,
    /// Answer 500 to every Nth request (0: never).
    fail_every: u64,
    /// Answer this status to everything while set.
    pub(crate) down: Arc<Mutex<Option<u16>>>,
    /// Requests answered with a failure status.
    failed: Arc<AtomicU64>,
    /// Wait this long before answering each request.
    delay: Arc<Mutex<Duration>>,
}

impl Receiver {
    pub fn start(fail_every: u64) -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let url = format!("http://{}/events", server.server_addr().to_ip().unwrap());
        let lines = Arc::new(Mutex::new(Vec::new()));
        let down: Arc<Mutex<Option<u16>>> = Arc::new(Mutex::new(None));
        let count = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let delay = Arc::new(Mutex::new(Duration::ZERO));
        for _ in 0..4 {
            let (server, lines, down, count, failed, delay) = (
                Arc::clone(&server),
                Arc::clone(&lines),
                Arc::clone(&down),
                Arc::clone(&count),
                Arc::clone(&failed),
                Arc::clone(&delay),
            );
            thread::spawn(move || {
                for mut request in server.incoming_requests() {
                    let mut body = String::new();
                    let _ = request.as_reader().read_to_string(&mut body);
                    let pause = *delay.lock().unwrap();
                    thread::sleep(pause);
                    let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                    let status = match *down.lock().unwrap() {
                        Some(status) => status,
                        None if fail_every > 0 && n % fail_every == 0 => 500,
                        None => {
                            lines
                                .lock()
                                .unwrap()
                                .extend(body.lines().map(str::to_owned));
                            200
                        }
                    };
                    if status != 200 {
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                    let _ = request.respond(tiny_http::Response::empty(status));
                }
            });
        }
        Self {
            url,
            lines,
            fail_every,
            down,
            failed,
            delay,
        }
    }
}

/// A running `serve`, killed on drop.
pub struct Serve {
    child: Child,
    pub ingest: String,
    pub sandbox: Sandbox,
}

impl Serve {
    pub fn start(forward: &str, args: &[&str]) -> Self {
        Self::start_with_env(forward, args, &[])
    }

    /// `start` with environment variables (e.g. the `--forward-auth-env` value).
    pub fn start_with_env(forward: &str, args: &[&str], envs: &[(&str, &str)]) -> Self {
        let sandbox = Sandbox::new();
        let err_path = sandbox.path("serve.stderr");
        let child = Command::new(BIN)
            .current_dir(sandbox.dir.path())
            .envs(envs.iter().copied())
            .args(["serve", "--listen", "127.0.0.1:0", "--forward", forward])
            .arg("--hmac-key-file")
            .arg(fixture("test-hmac.key"))
            .arg("--dead-letter")
            .arg(sandbox.path("dead.ndjson"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .spawn()
            .unwrap();
        let start = Instant::now();
        let ingest = loop {
            let err = std::fs::read_to_string(&err_path).unwrap_or_default();
            if let Some(url) = err.lines().find_map(|l| {
                l.strip_prefix("claude-audit: serve: listening on ")
                    .and_then(|rest| rest.split(',').next())
            }) {
                break url.to_owned();
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "serve did not start:\n{err}"
            );
            thread::sleep(Duration::from_millis(50));
        };
        Self {
            child,
            ingest,
            sandbox,
        }
    }

    pub fn dead_letter_path(&self) -> PathBuf {
        self.sandbox.path("dead.ndjson")
    }

    /// POST `body`; `(status, body)`.
    pub(crate) fn post(&self, body: &[u8]) -> (u16, String) {
        let mut response = ureq::post(&self.ingest)
            .config()
            .http_status_as_error(false)
            .build()
            .send(body)
            .expect("serve answers");
        let status = response.status().as_u16();
        (
            status,
            response.body_mut().read_to_string().unwrap_or_default(),
        )
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fixture_lines() -> Vec<String> {
    std::fs::read_to_string(fixture("activities.ndjson"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_100k_burst_through_a_flaky_receiver_is_delivered_whole() {
    const RECORDS: usize = 100_000;
    const BATCH: usize = 1000;
    let receiver = Receiver::start(4);
    let serve = Arc::new(Serve::start(
        &receiver.url,
        &[
            "--buffer-kib",
            "2048",
            "--max-body-kib",
            "2048",
            "--forward-retry-secs",
            "10",
        ],
    ));
    let templates: Vec<Value> = fixture_lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let bodies: Vec<Vec<u8>> = (0..RECORDS / BATCH)
        .map(|b| {
            let mut body = Vec::new();
            for i in b * BATCH..(b + 1) * BATCH {
                let mut v = templates[i % templates.len()].clone();
                v["id"] = format!("activity_burst{i:08}").into();
                body.extend(v.to_string().bytes());
                body.push(b'\n');
            }
            body
        })
        .collect();
    let bodies = Arc::new(bodies);
    let busy = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (serve, bodies, busy) =
                (Arc::clone(&serve), Arc::clone(&bodies), Arc::clone(&busy));
            thread::spawn(move || {
                for body in bodies.iter().skip(c).step_by(4) {
                    loop {
                        let (status, answer) = serve.post(body);
                        match status {
                            200 => break,
                            503 => {
                                busy.fetch_add(1, Ordering::Relaxed);
                                thread::sleep(Duration::from_millis(20));
                            }
                            other => panic!("unexpected {other}: {answer}"),
                        }
                    }
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    let lines = receiver.lines.lock().unwrap().clone();
    let ids: Vec<String> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["event_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), RECORDS, "every record delivered");
    assert_eq!(
        ids.len(),
        RECORDS,
        "none twice (the receiver stores only what it acknowledges)"
    );
    eprintln!(
        "burst: {RECORDS} records, receiver failed every {}th request, clients saw {} x 503",
        receiver.fail_every,
        busy.load(Ordering::Relaxed)
    );
    let (status, health) = serve.post_health();
    assert_eq!(status, 200);
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["forwarded"], RECORDS as u64);
    assert!(health["forward_retries"].as_u64().unwrap() > 0, "{health}");
}

impl Serve {
    pub fn post_health(&self) -> (u16, String) {
        let url = self.ingest.replace("/ingest", "/health");
        let mut response = ureq::get(&url).call().expect("health");
        (
            response.status().as_u16(),
            response.body_mut().read_to_string().unwrap(),
        )
    }
}

#[test]
fn a_full_buffer_and_a_down_receiver_answer_503_and_keep_nothing() {
    let receiver = Receiver::start(0);
    *receiver.down.lock().unwrap() = Some(503);
    let serve = Arc::new(Serve::start(
        &receiver.url,
        &[
            "--buffer-kib",
            "8",
            "--max-body-kib",
            "8",
            "--forward-retry-secs",
            "2",
        ],
    ));
    let body: Vec<u8> = fixture_lines()[..10].join("\n").into_bytes();
    let first = {
        let (serve, body) = (Arc::clone(&serve), body.clone());
        thread::spawn(move || {
            let start = Instant::now();
            (serve.post(&body), start.elapsed())
        })
    };
    thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    let (status, answer) = serve.post(&body);
    assert_eq!(status, 503, "buffer full: {answer}");
    assert!(answer.contains("buffer full"), "{answer}");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "back-pressure is immediate"
    );
    let ((status, answer), took) = first.join().unwrap();
    assert_eq!(status, 503, "downstream down: {answer}");
    assert!(
        took >= Duration::from_secs(2),
        "retried for --forward-retry-secs"
    );
    assert!(receiver.lines.lock().unwrap().is_empty());
    // The receiver comes back: the agent's retry goes through.
    *receiver.down.lock().unwrap() = None;
    let (status, answer) = serve.post(&body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(receiver.lines.lock().unwrap().len(), 10);
    // A refusal (4xx) is not retried and reaches the agent as 502.
    *receiver.down.lock().unwrap() = Some(400);
    let (status, _) = serve.post(&body);
    assert_eq!(status, 502);
}

#[test]
fn events_equal_run_output_and_bad_records_are_dead_lettered() {
    let receiver = Receiver::start(0);
    let serve = Serve::start(&receiver.url, &[]);
    let lines = fixture_lines();
    let array = format!("[{}]", lines.join(",\n"));
    let (status, answer) = serve.post(array.as_bytes());
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["records"], 312);
    assert_eq!(answer["forwarded"], 312);

    let sb = Sandbox::new();
    let out = sb
        .run_cmd()
        .arg(fixture("activities.ndjson"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = String::from_utf8(out.stdout).unwrap();
    let got = receiver.lines.lock().unwrap().join("\n") + "\n";
    assert_eq!(got, expected, "serve and run give the same events");

    let (status, answer) = serve.post(b"{\"id\":\"activity_x\",\"secret\":\"sk-ant-api03-abc\"}\n");
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["dead_lettered"], 1);
    assert_eq!(answer["forwarded"], 0);
    assert_eq!(
        receiver.lines.lock().unwrap().len(),
        312,
        "nothing forwarded"
    );
    let dead = read_ndjson(&std::fs::read(serve.dead_letter_path()).unwrap());
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["kind"], "missing_field");
    assert!(
        dead[0]["source"]
            .as_str()
            .unwrap()
            .starts_with("http request")
    );

    let (status, answer) = serve.post(b"[{\"unterminated\": ");
    assert_eq!(status, 400, "{answer}");
}

#[test]
fn credentials_never_go_over_plain_http_to_another_host() {
    let out = Command::new(BIN)
        .env("DOWNSTREAM_AUTH", "Splunk 0000-secret")
        .args([
            "serve",
            "--forward",
            "http://siem.example.com:8088/services/collector",
        ])
        .args(["--forward-auth-env", "DOWNSTREAM_AUTH", "--hmac-key-file"])
        .arg(fixture("test-hmac.key"))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("plain http"), "{err}");
    assert!(!err.contains("0000-secret"), "{err}");
}

#[test]
fn profile_flag_forwards_the_events_run_gives_in_that_profile() {
    let receiver = Receiver::start(0);
    let serve = Serve::start(&receiver.url, &["--profile", "ecs"]);
    let body = std::fs::read(fixture("activities.ndjson")).unwrap();
    let (status, answer) = serve.post(&body);
    assert_eq!(status, 200, "{answer}");
    let sb = Sandbox::new();
    let out = sb
        .run_cmd()
        .args(["--profile", "ecs"])
        .arg(fixture("activities.ndjson"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let got = receiver.lines.lock().unwrap().join("\n") + "\n";
    assert_eq!(got, String::from_utf8(out.stdout).unwrap());
    assert!(got.starts_with("{\"@timestamp\""), "{}", &got[..80]);
}

impl Serve {
    /// `GET path` on the hop's address.
    fn get(&self, path: &str) -> String {
        let url = self.ingest.replace("/ingest", path);
        ureq::get(&url)
            .call()
            .expect("GET")
            .body_mut()
            .read_to_string()
            .unwrap()
    }

    /// Send `signal` to the hop.
    pub(crate) fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid; no memory involved.
        let rc = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// Wait (bounded) for the hop to exit; its exit code.
    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                start.elapsed() < timeout,
                "serve did not exit in {timeout:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn stderr(&self) -> String {
        std::fs::read_to_string(self.sandbox.path("serve.stderr")).unwrap_or_default()
    }
}

/// Fixture records with unique ids, `per_body` to a body.
pub(crate) fn unique_bodies(bodies: usize, per_body: usize) -> Vec<(Vec<String>, Vec<u8>)> {
    let templates: Vec<Value> = fixture_lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (0..bodies)
        .map(|b| {
            let mut ids = Vec::new();
            let mut body = Vec::new();
            for i in b * per_body..(b + 1) * per_body {
                let mut v = templates[i % templates.len()].clone();
                let id = format!("activity_drain{i:08}");
                v["id"] = id.clone().into();
                ids.push(id);
                body.extend(v.to_string().bytes());
                body.push(b'\n');
            }
            (ids, body)
        })
        .collect()
}

/// The `event_id`s (activity ids) of events the receiver holds.
fn received_ids(receiver: &Receiver) -> Vec<String> {
    receiver
        .lines
        .lock()
        .unwrap()
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["event_id"].as_str().unwrap_or_default().to_owned()
        })
        .collect()
}

#[test]
fn sigterm_mid_burst_answers_every_request_and_exits_0() {
    let receiver = Receiver::start(0);
    // A slow downstream keeps requests in flight when the signal lands.
    *receiver.delay.lock().unwrap() = Duration::from_millis(150);
    let mut serve = Serve::start(&receiver.url, &["--drain-secs", "20"]);
    let serve_ref = Arc::new(serve.ingest.clone());
    let bodies = Arc::new(unique_bodies(400, 50));
    let signalled = Arc::new(Mutex::new(None::<Instant>));
    // Per client: acknowledged ids, answers after the signal, 503s.
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (url, bodies, signalled) = (
                Arc::clone(&serve_ref),
                Arc::clone(&bodies),
                Arc::clone(&signalled),
            );
            thread::spawn(move || {
                let (mut acked, mut ok_after, mut refused) = (Vec::new(), 0, 0);
                for (ids, body) in bodies.iter().skip(c).step_by(4) {
                    let mut response = ureq::post(url.as_str())
                        .config()
                        .http_status_as_error(false)
                        .build()
                        .send(body)
                        .expect("every request is answered, none is cut by the shutdown");
                    let status = response.status().as_u16();
                    let text = response.body_mut().read_to_string().unwrap_or_default();
                    let after = signalled.lock().unwrap().is_some();
                    match status {
                        200 => {
                            acked.extend(ids.iter().cloned());
                            ok_after += u64::from(after);
                        }
                        // The agent keeps what was refused and stops posting here.
                        503 => {
                            assert!(text.contains("shutting down"), "{text}");
                            refused += 1;
                            break;
                        }
                        other => panic!("unexpected {other}: {text}"),
                    }
                }
                (acked, ok_after, refused)
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(1500));
    *signalled.lock().unwrap() = Some(Instant::now());
    serve.signal(libc::SIGTERM);
    let code = serve.wait_exit(Duration::from_secs(30));
    let (mut acked, mut ok_after, mut refused) = (Vec::new(), 0, 0);
    for client in clients {
        let (a, o, r) = client.join().unwrap();
        acked.extend(a);
        ok_after += o;
        refused += r;
    }
    let err = serve.stderr();
    assert_eq!(code, Some(0), "a drained hop exits 0:\n{err}");
    assert!(err.contains("drained and stopped"), "{err}");
    assert!(
        ok_after > 0,
        "requests in flight at the signal were finished and answered 200"
    );
    assert_eq!(refused, 4, "every client was told 503 once the drain began");
    let mut got = received_ids(&receiver);
    let total = got.len();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), total, "no record delivered twice");
    acked.sort();
    assert_eq!(got, acked, "delivered exactly what was acknowledged");
    eprintln!(
        "drain: {} records acknowledged, {ok_after} requests answered 200 after the signal",
        acked.len()
    );
}

#[test]
fn a_second_signal_stops_at_once() {
    let receiver = Receiver::start(0);
    *receiver.down.lock().unwrap() = Some(503);
    let mut serve = Serve::start(&receiver.url, &["--forward-retry-secs", "60"]);
    let ingest = serve.ingest.clone();
    let body = fixture_lines()[..3].join("\n");
    let client = thread::spawn(move || ureq::post(&ingest).send(body.as_bytes()).is_ok());
    thread::sleep(Duration::from_millis(500));
    serve.signal(libc::SIGTERM);
    thread::sleep(Duration::from_millis(300));
    assert!(serve.child.try_wait().unwrap().is_none(), "still draining");
    serve.signal(libc::SIGINT);
    let code = serve.wait_exit(Duration::from_secs(5));
    assert_eq!(code, Some(128 + libc::SIGINT), "{}", serve.stderr());
    assert!(
        !client.join().unwrap(),
        "the unfinished request was not acknowledged"
    );
    assert!(received_ids(&receiver).is_empty());
    assert!(
        std::fs::read(serve.dead_letter_path()).unwrap().is_empty(),
        "nothing acknowledged, nothing written"
    );
}

/// Parse `/metrics` into `name -> value`.
fn metrics(text: &str) -> std::collections::HashMap<String, u64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .map(|(name, value)| (name.to_owned(), value.parse().unwrap()))
        .collect()
}

#[test]
fn an_outage_dead_letters_once_and_health_agrees_with_the_files() {
    let receiver = Receiver::start(3);
    *receiver.down.lock().unwrap() = Some(503);
    let serve = Serve::start(
        &receiver.url,
        &[
            "--forward-retry-secs",
            "1",
            "--buffer-kib",
            "256",
            "--max-body-kib",
            "64",
        ],
    );
    // Two bad records among good ones.
    let mut lines = fixture_lines()[..5].to_vec();
    lines.insert(2, "{\"id\":\"activity_bad1\"}".to_owned());
    lines.push("not json".to_owned());
    let body = lines.join("\n").into_bytes();
    let mut answers: Vec<(u16, Value)> = Vec::new();
    // The outage: three tries, three 503s, no dead letter yet.
    for _ in 0..3 {
        let (status, text) = serve.post(&body);
        answers.push((status, serde_json::from_str(&text).unwrap()));
        assert_eq!(status, 503, "{text}");
    }
    assert!(std::fs::read(serve.dead_letter_path()).unwrap().is_empty());
    // The downstream is back but fails every 3rd request: retried.
    *receiver.down.lock().unwrap() = None;
    for _ in 0..6 {
        let (status, text) = serve.post(&body);
        assert_eq!(status, 200, "{text}");
        answers.push((status, serde_json::from_str(&text).unwrap()));
    }
    for bad in [&b"[{\"unterminated\": "[..], &vec![b'x'; 65 << 10]] {
        let (status, text) = serve.post(bad);
        answers.push((status, serde_json::from_str(&text).unwrap()));
    }
    let dead = read_ndjson(&std::fs::read(serve.dead_letter_path()).unwrap());
    assert_eq!(
        dead.len(),
        6 * 2,
        "each accepted request's dead letters, once"
    );
    let health: Value = serde_json::from_str(&serve.get("/health")).unwrap();
    let count = |status: u16| answers.iter().filter(|(s, _)| *s == status).count() as u64;
    let sum = |field: &str| -> u64 {
        answers
            .iter()
            .filter(|(s, _)| *s == 200)
            .map(|(_, a)| a[field].as_u64().unwrap())
            .sum()
    };
    let expect = [
        ("requests_ok", count(200)),
        ("requests_unavailable", count(503)),
        ("requests_busy", 0),
        ("requests_invalid", count(400) + count(413)),
        ("records", sum("records")),
        ("forwarded", sum("forwarded")),
        ("dead_lettered", dead.len() as u64),
        ("filtered", 0),
        ("forward_failures", receiver.failed.load(Ordering::SeqCst)),
        ("buffered_bytes", 0),
    ];
    for (name, value) in expect {
        assert_eq!(health[name], value, "{name}: {health}");
    }
    assert_eq!(
        health["forwarded"],
        receiver.lines.lock().unwrap().len() as u64
    );
    assert_eq!(health["dead_lettered"], sum("dead_lettered"));
    assert!(health["forward_retries"].as_u64().unwrap() > 0);
    let m = metrics(&serve.get("/metrics"));
    for (name, value) in health.as_object().unwrap() {
        let key = if m.contains_key(&format!("claude_audit_serve_{name}_total")) {
            format!("claude_audit_serve_{name}_total")
        } else {
            format!("claude_audit_serve_{name}")
        };
        assert_eq!(Some(&value.as_u64().unwrap()), m.get(&key), "{key}");
    }
}

#[test]
fn a_body_limit_over_the_buffer_is_refused_at_start() {
    let out = Command::new(BIN)
        .args([
            "serve",
            "--forward",
            "http://127.0.0.1:9/x",
            "--buffer-kib",
            "1024",
        ])
        .args(["--max-body-kib", "2048", "--hmac-key-file"])
        .arg(fixture("test-hmac.key"))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--max-body-kib 2048 is larger than --buffer-kib 1024"),
        "{err}"
    );
}
