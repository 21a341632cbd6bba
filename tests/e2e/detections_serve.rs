//! `serve --state FILE --state-interval SECS`: the detection state survives
//! a graceful restart mid-window (the alert is raised once, by the second
//! hop, and a re-sent overlap raises nothing) and a kill -9 after a periodic
//! checkpoint (nothing raised twice); no raw PII in the state file.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::detections::{CANARY_EMAIL, CANARY_IP, failures};
use crate::serve::{Receiver, Serve};
use crate::util::Sandbox;

/// Alert ids the receiver holds.
fn alerts(receiver: &Receiver) -> Vec<String> {
    let lines = receiver.lines.lock().unwrap();
    lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["event_type"] == "claude_audit.alert")
        .map(|v| v["event_id"].as_str().unwrap().to_owned())
        .collect()
}

fn post_ok(serve: &Serve, body: &str) {
    let (status, answer) = serve.post(body.as_bytes());
    assert_eq!(status, 200, "{answer}\n{}", serve.stderr());
}

#[test]
fn serve_state_carries_a_window_across_a_restart_and_a_kill() {
    let shared = Sandbox::new();
    let config = shared.write(
        "detect.toml",
        "[plugin.detections]\nenabled = true\nsignals = false\n",
    );
    let state = shared.path("state.json");
    let (config, state_arg) = (config.to_str().unwrap(), state.to_str().unwrap());
    let args = [
        "--config",
        config,
        "--state",
        state_arg,
        "--state-interval",
        "1",
    ];
    let receiver = Receiver::start(0);

    // Six failures (of the ten the rule needs), then a graceful stop.
    let mut first = Serve::start(&receiver.url, &args);
    post_ok(&first, &failures(0, 6, 30));
    first.signal(libc::SIGTERM);
    assert_eq!(first.wait_exit(Duration::from_secs(30)), Some(0));
    assert!(alerts(&receiver).is_empty());
    let saved = std::fs::read(&state).expect("state saved at shutdown");

    // The next four, after the restart: the window is complete.
    let mut second = Serve::start(&receiver.url, &args);
    post_ok(&second, &failures(180, 4, 30));
    let raised = alerts(&receiver);
    assert_eq!(raised.len(), 1, "{raised:?}\n{}", second.stderr());
    // The periodic checkpoint (1 s) saves it; then kill -9.
    let until = Instant::now() + Duration::from_secs(20);
    while std::fs::read(&state).unwrap() == saved {
        assert!(Instant::now() < until, "no periodic checkpoint");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(200));
    second.signal(libc::SIGKILL);
    second.wait_exit(Duration::from_secs(10));

    // An agent re-sending the whole overlap raises nothing new.
    let mut third = Serve::start(&receiver.url, &args);
    post_ok(&third, &failures(0, 10, 30));
    assert_eq!(alerts(&receiver), raised, "an alert is raised once");
    third.signal(libc::SIGTERM);
    assert_eq!(third.wait_exit(Duration::from_secs(30)), Some(0));

    let bytes = std::fs::read_to_string(&state).unwrap();
    assert!(!bytes.contains(CANARY_EMAIL) && !bytes.contains(CANARY_IP));
}

/// The downstream is down: the agent gets 503 and re-sends. The engine
/// remembers the alert it raised on the first attempt, so it is not raised
/// again; the hop keeps it and forwards it with the next accepted request.
#[test]
fn an_alert_raised_during_an_outage_is_delivered_once_after_it() {
    let s = Sandbox::new();
    let config = s.write(
        "detect.toml",
        "[plugin.detections]\nenabled = true\nsignals = false\n",
    );
    let receiver = Receiver::start(0);
    *receiver.down.lock().unwrap() = Some(503);
    let serve = Serve::start(
        &receiver.url,
        &[
            "--config",
            config.to_str().unwrap(),
            "--forward-retry-secs",
            "1",
        ],
    );
    let body = failures(0, 12, 30);
    let (status, _) = serve.post(body.as_bytes());
    assert_eq!(status, 503, "{}", serve.stderr());
    *receiver.down.lock().unwrap() = None;
    post_ok(&serve, &body);
    let raised = alerts(&receiver);
    assert_eq!(raised.len(), 1, "{raised:?}\n{}", serve.stderr());
    let events = receiver.lines.lock().unwrap().len();
    assert_eq!(events, 12 + 1, "the twelve events once, and the alert");
}

#[test]
fn serve_state_needs_detections() {
    let s = Sandbox::new();
    let out = std::process::Command::new(crate::util::BIN)
        .current_dir(s.dir.path())
        .args(["serve", "--forward", "http://127.0.0.1:9/x", "--state"])
        .arg(s.path("state.json"))
        .arg("--hmac-key-file")
        .arg(crate::util::fixture("test-hmac.key"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(crate::util::EXIT_ERROR));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--state needs detections"));
}
