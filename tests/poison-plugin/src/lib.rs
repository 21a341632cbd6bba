//! A deliberately misbehaving transform component, for the host's sandbox
//! tests only. It speaks the real `claude-audit:transform` world and echoes
//! each record as its "event", except records containing a marker:
//!
//! - `POISON_TRAP`: panics (a trap in wasm);
//! - `POISON_LOOP`: loops forever (the host's batch deadline must stop it);
//! - `POISON_OOM`: allocates without bound (the host's memory limit must stop it);
//! - `POISON_DETECT`: panics only in an instance configured in the `detect`
//!   stage (the host's detection instance), so that the host's recovery from
//!   a failed detection batch can be tested.
//!
//! Never shipped: the host embeds it only for its end-to-end tests.

#[cfg(target_family = "wasm")]
mod component {
    wit_bindgen::generate!({
        world: "transform",
        path: "../../wit",
    });

    use claude_audit::transform::types as wit;

    struct Poison;

    impl Guest for Poison {
        fn abi_version() -> u32 {
            4
        }

        fn export_state() -> Vec<u8> {
            Vec::new()
        }

        fn import_state(_state: Vec<u8>) -> Result<(), wit::StateError> {
            Ok(())
        }

        fn schema_version() -> String {
            "poison".to_owned()
        }

        fn configure(config: wit::Config) -> Result<(), wit::ConfigError> {
            let detect = contains(config.settings_json.as_bytes(), b"\"stage\":{\"detect\"");
            DETECT_STAGE.store(detect, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }

        fn process_batch(records: Vec<u8>) -> Result<wit::BatchOutput, wit::BatchError> {
            let mut out = Vec::with_capacity(records.len() + 1);
            let mut count = 0;
            for line in lines(&records) {
                misbehave_if_marked(line);
                out.extend_from_slice(line);
                out.push(b'\n');
                count += 1;
            }
            Ok(wit::BatchOutput {
                records: out,
                dead_letters: Vec::new(),
                counters: wit::Counters {
                    records: count,
                    emitted: count,
                    dead_lettered: 0,
                    filtered: 0,
                    unmapped_event_types: 0,
                    unmapped_actor_types: 0,
                    unmapped_fields: 0,
                    alerts: 0,
                    alerts_suppressed: 0,
                },
                vault_entries: Vec::new(),
                alerts: Vec::new(),
            })
        }
    }

    /// NDJSON framing of `process-batch`. Not shared with the real plugin on
    /// purpose: linking the plugin crate would export its component a
    /// second time.
    fn lines(input: &[u8]) -> impl Iterator<Item = &[u8]> {
        let body = input.strip_suffix(b"\n").unwrap_or(input);
        let empty = input.is_empty();
        body.split(|b| *b == b'\n')
            .filter(move |_| !empty)
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    /// Whether this instance was configured in the `detect` stage.
    static DETECT_STAGE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    fn misbehave_if_marked(line: &[u8]) {
        if contains(line, b"POISON_DETECT")
            && DETECT_STAGE.load(std::sync::atomic::Ordering::Relaxed)
        {
            panic!("poison record in the detect stage");
        }
        if contains(line, b"POISON_TRAP") {
            panic!("poison record");
        }
        if contains(line, b"POISON_LOOP") {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        if contains(line, b"POISON_OOM") {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
    }

    export!(Poison);
}
