//! `serve --evidence`: the events the downstream took are in the store,
//! byte for byte and in order; checkpoints every N events, every T seconds
//! and at the drain; after kill -9 every acknowledged event is kept and the
//! hop resumes.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::evidence::{EXIT_TAIL, checkpoint_head, checkpoints, generate_key, mth};
use crate::serve::{Receiver, Serve, unique_bodies};
use crate::util::{BIN, Sandbox, run, stderr};

/// `verify DIR --key VKEY`: its exit code and stderr.
fn verify(store: &Path, vkey: &str) -> (Option<i32>, String) {
    let out = run(Command::new(BIN)
        .arg("verify")
        .arg(store)
        .arg("--key")
        .arg(vkey));
    (out.status.code(), stderr(&out))
}

/// Every line of the store's segments, in leaf order.
fn stored_lines(store: &Path) -> Vec<String> {
    let mut segments: Vec<_> = std::fs::read_dir(store.join("segments"))
        .unwrap()
        .map(|d| d.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "ndjson"))
        .collect();
    segments.sort();
    segments
        .iter()
        .flat_map(|s| {
            let text = std::fs::read_to_string(s).unwrap();
            text.lines().map(str::to_owned).collect::<Vec<_>>()
        })
        .collect()
}

/// Start `serve --evidence store` forwarding to `receiver`.
fn serve(receiver: &Receiver, store: &Path, key: &Path, extra: &[&str]) -> Serve {
    let (store, key) = (store.to_str().unwrap(), key.to_str().unwrap());
    let mut args = vec!["--evidence", store, "--evidence-key-file", key];
    args.extend_from_slice(extra);
    Serve::start(&receiver.url, &args)
}

fn post_all(serve: &Serve, bodies: &[(Vec<String>, Vec<u8>)]) {
    for (_, body) in bodies {
        let (status, answer) = serve.post(body);
        assert_eq!(status, 200, "{answer}\n{}", serve.stderr());
    }
}

/// Wait (bounded) until the newest checkpoint covers `size` events.
fn wait_for_checkpoint(store: &Path, size: u64) {
    let start = Instant::now();
    while checkpoints(store)
        .last()
        .is_none_or(|c| checkpoint_head(c).0 < size)
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no checkpoint of {size} events"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serve_evidence_holds_what_was_forwarded_and_survives_kill_9() {
    let sandbox = Sandbox::new();
    let vkey = generate_key(&sandbox, "signing.key", "audit.example.com/hop");
    let (store, key) = (sandbox.path("store"), sandbox.path("signing.key"));
    let receiver = Receiver::start(0);
    let bodies = unique_bodies(10, 30);

    // 1. Six requests, a checkpoint every 50 events and after 1 s idle.
    let mut hop = serve(
        &receiver,
        &store,
        &key,
        &["--checkpoint-every", "50", "--checkpoint-secs", "1"],
    );
    post_all(&hop, &bodies[..6]);
    let sizes: Vec<u64> = checkpoints(&store)
        .iter()
        .map(|c| checkpoint_head(c).0)
        .collect();
    // Never more than 50 events between two checkpoints (a slow machine
    // may add checkpoints by time in between).
    assert!(sizes.len() >= 3, "{sizes:?}");
    let mut previous = 0;
    for size in &sizes {
        assert!(*size > previous && size - previous <= 50, "{sizes:?}");
        previous = *size;
    }
    // The 30 events past 150 are covered after a second without requests.
    wait_for_checkpoint(&store, 180);
    hop.signal(libc::SIGTERM);
    assert_eq!(hop.wait_exit(Duration::from_secs(30)), Some(0));
    assert_eq!(verify(&store, &vkey).0, Some(0));
    // The store holds exactly what the downstream took, and its root is
    // recomputed from the downstream's copy alone.
    let forwarded = receiver.lines.lock().unwrap().clone();
    assert_eq!(forwarded.len(), 180);
    assert_eq!(stored_lines(&store), forwarded);
    let leaves: Vec<&[u8]> = forwarded.iter().map(|l| l.as_bytes()).collect();
    let newest = checkpoints(&store).pop().unwrap();
    assert_eq!(checkpoint_head(&newest), (180, mth(&leaves)));

    // 2. kill -9 after three acknowledged requests, none checkpointed.
    let mut hop = serve(&receiver, &store, &key, &["--checkpoint-secs", "3600"]);
    post_all(&hop, &bodies[6..9]);
    hop.signal(libc::SIGKILL);
    let _ = hop.wait_exit(Duration::from_secs(10));
    let (code, err) = verify(&store, &vkey);
    assert_eq!(code, Some(EXIT_TAIL), "uncovered acknowledged tail: {err}");

    // 3. The restarted hop keeps the acknowledged events (the agent will
    // not send them again), goes on, and signs them at the drain.
    let mut hop = serve(&receiver, &store, &key, &[]);
    post_all(&hop, &bodies[9..]);
    hop.signal(libc::SIGTERM);
    assert_eq!(hop.wait_exit(Duration::from_secs(30)), Some(0));
    assert!(hop.stderr().contains("all covered by a signed checkpoint"));
    let (code, err) = verify(&store, &vkey);
    assert_eq!(code, Some(0), "{err}");
    let forwarded = receiver.lines.lock().unwrap().clone();
    assert_eq!(forwarded.len(), 300);
    assert_eq!(stored_lines(&store), forwarded, "no gap, no duplicate");
    let leaves: Vec<&[u8]> = forwarded.iter().map(|l| l.as_bytes()).collect();
    let newest = checkpoints(&store).pop().unwrap();
    assert_eq!(checkpoint_head(&newest), (300, mth(&leaves)));
}
