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
struct Receiver {
    url: String,
    /// Every line received in 2xx-answered requests.
    lines: Arc<Mutex<Vec<String>>>,
    /// Answer 500 to every Nth request (0: never).
    fail_every: u64,
    /// Answer this status to everything while set.
    down: Arc<Mutex<Option<u16>>>,
}

impl Receiver {
    fn start(fail_every: u64) -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let url = format!("http://{}/events", server.server_addr().to_ip().unwrap());
        let lines = Arc::new(Mutex::new(Vec::new()));
        let down: Arc<Mutex<Option<u16>>> = Arc::new(Mutex::new(None));
        let count = Arc::new(AtomicU64::new(0));
        for _ in 0..4 {
            let (server, lines, down, count) = (
                Arc::clone(&server),
                Arc::clone(&lines),
                Arc::clone(&down),
                Arc::clone(&count),
            );
            thread::spawn(move || {
                for mut request in server.incoming_requests() {
                    let mut body = String::new();
                    let _ = request.as_reader().read_to_string(&mut body);
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
                    let _ = request.respond(tiny_http::Response::empty(status));
                }
            });
        }
        Self {
            url,
            lines,
            fail_every,
            down,
        }
    }
}

/// A running `serve`, killed on drop.
struct Serve {
    child: Child,
    ingest: String,
    sandbox: Sandbox,
}

impl Serve {
    fn start(forward: &str, args: &[&str]) -> Self {
        let sandbox = Sandbox::new();
        let err_path = sandbox.path("serve.stderr");
        let child = Command::new(BIN)
            .current_dir(sandbox.dir.path())
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

    fn dead_letter_path(&self) -> PathBuf {
        self.sandbox.path("dead.ndjson")
    }

    /// POST `body`; `(status, body)`.
    fn post(&self, body: &[u8]) -> (u16, String) {
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
        &["--buffer-kib", "2048", "--forward-retry-secs", "10"],
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
    fn post_health(&self) -> (u16, String) {
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
        &["--buffer-kib", "1", "--forward-retry-secs", "2"],
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
