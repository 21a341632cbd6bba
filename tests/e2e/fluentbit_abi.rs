//! The Fluent Bit core module (`CLAUDE_AUDIT_FLUENTBIT_WASM`, built by
//! host/build.rs for wasm32-wasip1) driven exactly as Fluent Bit 5.1's `wasm`
//! filter drives it (shared/agents/fluent-bit-wasm.md, `src/wasm/flb_wasm.c`):
//! WASI preview 1 with the filter's `accessible_paths` as the only preopen
//! (guest name = host path, as WAMR does), `_initialize` run once, then per
//! record the tag plus a NUL and the record copied in through the module's
//! exported `malloc`, the six-i32 call, the result read up to its NUL
//! (bounds-checked, as WAMR's `wasm_runtime_validate_app_str_addr` does, then
//! `strdup`) and both copies released with `free`. Both event formats:
//! `json` (`claude_audit_filter`: the JSON text plus a NUL) and `msgpack`
//! (`claude_audit_filter_msgpack`: the record packed as Fluent Bit's JSON
//! parser packs it, no NUL; the answer must decode, whole, from the bytes
//! before its first zero byte).
//!
//! Every answer is compared with what `claude-audit run` makes of the same
//! record with the same key and policy: events byte for byte, dead letters by
//! kind, field and reason. No Fluent Bit is needed.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::Path;
use std::sync::OnceLock;

use serde::Deserialize;

use serde_json::Value;
use wasmtime::{Engine, Instance, Memory, Module, Store, TypedFunc};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::util::*;

/// The core module built by host/build.rs.
const FLUENTBIT_WASM: &str = env!("CLAUDE_AUDIT_FLUENTBIT_WASM");
const DEAD_LETTER_KEY: &str = "claude_audit_dead_letter";
const WASM_PAGE: u64 = 64 << 10;
/// A Fluent Bit tag, as `tail` would set it.
const TAG: &str = "claude.activity";
/// The one key of a msgpack-mode answer (`plugin/src/filter/msgpack.rs`).
const MSGPACK_JSON_KEY: &str = "claude_audit_json";

/// Fluent Bit's `event_format`, and the export the filter names for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `event_format: json`, `function_name: claude_audit_filter`.
    Json,
    /// `event_format: msgpack`, `function_name: claude_audit_filter_msgpack`.
    Msgpack,
}

/// Both formats, for tests that check each.
pub(crate) const FORMATS: [Format; 2] = [Format::Json, Format::Msgpack];

/// The engine and the compiled module, shared by the tests of this binary
/// (compiling the module takes a moment).
fn module() -> &'static (Engine, Module) {
    static MODULE: OnceLock<(Engine, Module)> = OnceLock::new();
    MODULE.get_or_init(|| {
        let engine = Engine::default();
        let module = Module::from_file(&engine, FLUENTBIT_WASM).expect("compile the module");
        (engine, module)
    })
}

/// One filter instance, as Fluent Bit keeps one per `wasm` filter.
pub(crate) struct FluentBit {
    store: Store<WasiP1Ctx>,
    memory: Memory,
    filter: TypedFunc<(u32, u32, u32, u32, u32, u32), u32>,
    filter_msgpack: TypedFunc<(u32, u32, u32, u32, u32, u32), u32>,
    malloc: TypedFunc<u32, u32>,
    free: TypedFunc<u32, ()>,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl FluentBit {
    /// Instantiate with `accessible_paths` = `dirs` and run `_initialize`.
    pub(crate) fn new(dirs: &[&Path]) -> Self {
        let (engine, module) = module();
        let stdout = MemoryOutputPipe::new(1 << 20);
        let stderr = MemoryOutputPipe::new(1 << 20);
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout.clone()).stderr(stderr.clone());
        for dir in dirs {
            wasi.preopened_dir(dir, dir.to_str().unwrap(), FsPerms::ReadOnly)
                .unwrap();
        }
        let mut store = Store::new(engine, wasi.build_p1());
        let mut linker = wasmtime::Linker::new(engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |ctx| ctx).unwrap();
        let instance: Instance = linker.instantiate(&mut store, module).unwrap();
        // Fluent Bit (WAMR) runs `_initialize` when the module exports it;
        // this module must export it (a reactor, no WAMR warning on stdout).
        instance
            .get_typed_func::<(), ()>(&mut store, "_initialize")
            .expect("_initialize is exported")
            .call(&mut store, ())
            .unwrap();
        Self {
            memory: instance.get_memory(&mut store, "memory").unwrap(),
            filter: instance
                .get_typed_func(&mut store, "claude_audit_filter")
                .expect("the six-i32 filter function"),
            filter_msgpack: instance
                .get_typed_func(&mut store, "claude_audit_filter_msgpack")
                .expect("the six-i32 msgpack filter function"),
            malloc: instance
                .get_typed_func(&mut store, "malloc")
                .expect("malloc(i32) -> i32"),
            free: instance
                .get_typed_func(&mut store, "free")
                .expect("free(i32)"),
            store,
            stdout,
            stderr,
        }
    }

    /// `wasm_runtime_module_dup_data`: malloc, copy, 0 on failure.
    fn dup(&mut self, bytes: &[u8]) -> u32 {
        let len = u32::try_from(bytes.len()).unwrap();
        let ptr = self.malloc.call(&mut self.store, len).unwrap();
        if ptr != 0 {
            self.memory
                .write(&mut self.store, ptr as usize, bytes)
                .unwrap();
        }
        ptr
    }

    /// One record through the filter, as `flb_wasm_call_function_format_json`.
    fn call(&mut self, record: &[u8]) -> Value {
        serde_json::from_slice(&self.call_bytes(record)).unwrap()
    }

    /// [`Self::call`], returning the answer's exact bytes.
    pub(crate) fn call_bytes(&mut self, record: &[u8]) -> Vec<u8> {
        self.call_in(Format::Json, record)
    }

    /// One record (JSON text, as the tail input reads it) through the filter
    /// in `format`; the answer's exact JSON bytes (in msgpack mode, the JSON
    /// text the msgpack answer carries, without the padding space).
    pub(crate) fn call_in(&mut self, format: Format, record: &[u8]) -> Vec<u8> {
        let tag_ptr = self.dup(&[TAG.as_bytes(), b"\0"].concat());
        let answer = match format {
            Format::Json => {
                let record_ptr = self.dup(&[record, b"\0"].concat());
                let answer = self.call_raw(tag_ptr, record_ptr, record.len() as u32);
                self.free.call(&mut self.store, record_ptr).unwrap();
                answer
            }
            Format::Msgpack => {
                let packed = pack(record);
                let record_ptr = self.dup(&packed);
                let answer = self.call_raw_msgpack(record_ptr, packed.len() as u32);
                self.free.call(&mut self.store, record_ptr).unwrap();
                answer
            }
        };
        self.free.call(&mut self.store, tag_ptr).unwrap();
        answer
    }

    /// The call itself with given pointers; the answer as Fluent Bit reads
    /// it (`strdup`): a NUL-terminated string inside memory, which must be a
    /// JSON object.
    fn call_raw(&mut self, tag_ptr: u32, record_ptr: u32, record_len: u32) -> Vec<u8> {
        let filter = self.filter.clone();
        let bytes = self.result(filter, (tag_ptr, record_ptr, record_len));
        let value: Value = serde_json::from_slice(&bytes).expect("a JSON result");
        assert!(
            value.is_object(),
            "Fluent Bit keeps only JSON objects: {value}"
        );
        bytes
    }

    /// The msgpack call (see [`unwrap_msgpack`]). Returns the JSON text.
    fn call_raw_msgpack(&mut self, record_ptr: u32, record_len: u32) -> Vec<u8> {
        let filter = self.filter_msgpack.clone();
        unwrap_msgpack(&self.result(filter, (0, record_ptr, record_len)))
    }

    /// Call `filter` with (tag, record, length) and read the result up to
    /// its NUL, bounds-checked as WAMR does.
    fn result(
        &mut self,
        filter: TypedFunc<(u32, u32, u32, u32, u32, u32), u32>,
        (tag_ptr, record_ptr, record_len): (u32, u32, u32),
    ) -> Vec<u8> {
        let args = (
            tag_ptr,
            TAG.len() as u32,
            1_779_108_483,
            838_453_000,
            record_ptr,
            record_len,
        );
        let result = filter.call(&mut self.store, args).unwrap() as usize;
        let data = self.memory.data(&self.store);
        assert!(
            result != 0 && result < data.len(),
            "result pointer {result}"
        );
        let len = data[result..]
            .iter()
            .position(|b| *b == 0)
            .expect("NUL-terminated inside linear memory");
        data[result..result + len].to_vec()
    }

    fn memory_pages(&self) -> u64 {
        self.memory.data_size(&self.store) as u64 / WASM_PAGE
    }

    fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents()).into_owned()
    }
}

/// What Fluent Bit's msgpack mode reads of an answer (`bytes`, up to the
/// NUL) must be one whole msgpack map `{"claude_audit_json": "<a JSON
/// object>"}`, or Fluent Bit would append a cut value to its chunk. Returns
/// the JSON text.
fn unwrap_msgpack(bytes: &[u8]) -> Vec<u8> {
    let mut de = rmp_serde::Deserializer::new(Cursor::new(bytes));
    let map = HashMap::<String, String>::deserialize(&mut de)
        .unwrap_or_else(|e| panic!("not a msgpack map of strings ({e}): {bytes:?}"));
    assert_eq!(de.position(), bytes.len() as u64, "msgpack cut short");
    assert_eq!(map.len(), 1, "{map:?}");
    let text = map[MSGPACK_JSON_KEY].trim_end().as_bytes().to_vec();
    let value: Value = serde_json::from_slice(&text).expect("JSON in the answer");
    assert!(value.is_object(), "{value}");
    text
}

/// `record` (JSON text) as Fluent Bit's JSON parser stores it and its
/// msgpack mode passes it: one msgpack map, keys in their order.
fn pack(record: &[u8]) -> Vec<u8> {
    let value: Value =
        serde_json::from_slice(record).expect("Fluent Bit passes only records it parsed");
    rmp_serde::to_vec(&value).unwrap()
}

/// A directory holding `claude-audit.toml` (`config`, plus the test key as
/// `k1`) and the key file: the filter's only accessible path.
pub(crate) fn configured(sb: &Sandbox, extra: &str) -> std::path::PathBuf {
    let dir = sb.path("fluent-bit");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(fixture("test-hmac.key"), dir.join("hmac-k1.key")).unwrap();
    std::fs::write(
        dir.join("claude-audit.toml"),
        format!("{extra}\n[keys]\nhmac = [{{ id = \"k1\", file = \"hmac-k1.key\" }}]\n"),
    )
    .unwrap();
    dir
}

/// The events of `claude-audit run` on `input` (same key as [`configured`],
/// `config` as its `--config`), one per input line, and its dead letters.
fn run_reference(sb: &Sandbox, input: &[u8], config: &str) -> (Vec<Vec<u8>>, Vec<Value>) {
    let path = sb.write("input.ndjson", input);
    let config = sb.write("run.toml", config);
    let out = run(sb.run_cmd().arg("--config").arg(&config).arg(&path));
    assert!(
        matches!(out.status.code(), Some(0 | EXIT_DEAD_LETTERS)),
        "{}",
        stderr(&out)
    );
    let events = out
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    (events, sb.dead_letters())
}

#[test]
fn every_fixture_record_gives_the_event_run_gives() {
    let sb = Sandbox::new();
    let input = std::fs::read(fixture("activities.ndjson")).unwrap();
    let (events, dead) = run_reference(&sb, &input, "");
    assert!(dead.is_empty());
    let records: Vec<&[u8]> = input
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(records.len(), 312);
    assert_eq!(events.len(), 312);
    let etc = configured(&sb, "");
    for format in FORMATS {
        let mut fb = FluentBit::new(&[&etc]);
        for (i, (record, event)) in records.iter().zip(&events).enumerate() {
            assert_eq!(
                fb.call_in(format, record),
                *event,
                "{format:?}: record {i} differs from `claude-audit run`"
            );
        }
        let err = fb.stderr_text();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("Fluent Bit filter ready"), "{err}");
        assert!(err.contains("key `k1`"), "{err}");
        assert!(
            fb.stdout.contents().is_empty(),
            "nothing on Fluent Bit's stdout"
        );
    }
}

#[test]
fn planted_values_do_not_survive_the_module() {
    let sb = Sandbox::new();
    let mut fb = FluentBit::new(&[&configured(&sb, "")]);
    let planted = crate::redaction_planted::planted_records();
    for ((record, value), format) in planted.iter().zip(FORMATS.iter().cycle()) {
        let answer = String::from_utf8(fb.call_in(*format, record.as_bytes())).unwrap();
        assert!(
            answer.contains("\"schema_version\""),
            "not an event: {answer}"
        );
        assert!(
            !crate::redaction_planted::leaked(&answer, value),
            "{value} survived: {answer}"
        );
    }
}

#[test]
fn malformed_records_are_marked_like_runs_dead_letters() {
    let sb = Sandbox::new();
    // As in malformed.rs: 2 KiB, so that the padded case is over-long.
    let config = "[input]\nmax_record_bytes = 2048\n";
    let cases = crate::malformed::cases();
    let mut input = Vec::new();
    for (i, (raw, _, _)) in cases.iter().enumerate() {
        input.extend_from_slice(crate::malformed::valid(i as u32).as_bytes());
        input.push(b'\n');
        input.extend_from_slice(raw);
        input.push(b'\n');
    }
    let (events, dead) = run_reference(&sb, &input, config);
    assert_eq!((events.len(), dead.len()), (cases.len(), cases.len()));
    let mut fb = FluentBit::new(&[&configured(&sb, config)]);
    for (i, (raw, kind, field)) in cases.iter().enumerate() {
        let valid = crate::malformed::valid(i as u32);
        assert_eq!(fb.call_bytes(valid.as_bytes()), events[i]);

        let answer = fb.call(raw);
        let text = answer.to_string();
        assert!(
            !text.contains("LEAKCANARY"),
            "raw value in the marker: {text}"
        );
        let object = answer.as_object().unwrap();
        assert_eq!(object.len(), 1, "the marker only: {text}");
        let marker = &answer[DEAD_LETTER_KEY];
        let reference = &dead[i];
        assert_eq!(marker["kind"], *kind, "{text}");
        assert_eq!(marker["field"], *field, "{text}");
        assert_eq!(marker["kind"], reference["kind"], "{text} vs {reference}");
        assert_eq!(marker["field"], reference["field"], "{text} vs {reference}");
        assert_eq!(
            marker["reason"], reference["reason"],
            "{text} vs {reference}"
        );
        assert_eq!(
            marker["length"], reference["length"],
            "{text} vs {reference}"
        );
        assert!(marker.get("raw").is_none() && marker.get("raw_base64").is_none());

        // msgpack mode, for the records Fluent Bit's JSON parser would pass
        // on unchanged (valid compact JSON): the same marker.
        if serde_json::from_slice::<Value>(raw)
            .is_ok_and(|v| serde_json::to_vec(&v).unwrap() == *raw)
        {
            let packed: Value = serde_json::from_slice(&fb.call_in(Format::Msgpack, raw)).unwrap();
            assert_eq!(packed, answer, "msgpack: {packed} vs {answer}");
        }
    }
    assert!(!fb.stderr_text().contains("LEAKCANARY"));
}

#[test]
fn records_of_a_mebibyte_and_more_work() {
    let sb = Sandbox::new();
    let big = |pad: usize| {
        crate::malformed::valid(7).replacen(
            "\"type\":",
            &format!("\"note\":\"{}\",\"type\":", "x".repeat(pad)),
            1,
        )
    };
    // Exactly at the default limit (1 MiB): compared with `run`.
    let at_limit = big(0);
    let at_limit = big((1 << 20) - at_limit.len());
    assert_eq!(at_limit.len(), 1 << 20);
    {
        let sb = Sandbox::new();
        let (events, _) = run_reference(&sb, at_limit.as_bytes(), "");
        let mut fb = FluentBit::new(&[&configured(&sb, "")]);
        let before = fb.memory_pages();
        assert_eq!(fb.call_bytes(at_limit.as_bytes()), events[0]);
        assert!(fb.memory_pages() > before, "the module grew its own memory");
        // msgpack mode carries at most 65535 bytes of answer: a dead letter,
        // not a cut answer.
        let answer: Value =
            serde_json::from_slice(&fb.call_in(Format::Msgpack, at_limit.as_bytes())).unwrap();
        let marker = &answer[DEAD_LETTER_KEY];
        assert_eq!(marker["kind"], "msgpack_answer_too_long", "{answer}");
        assert_eq!(marker["length"], at_limit.len(), "{answer}");
    }
    // 3 MiB under a raised limit: compared with the plugin logic run
    // natively (what `run` runs in its sandbox), because a `run` child on
    // such a record would peak above the process-wide child RSS bound that
    // memory.rs checks.
    let three = big(3 << 20);
    let key = claude_audit_plugin::HmacKey::new(
        "k1",
        claude_audit_plugin::filter::decode_key(&std::fs::read(fixture("test-hmac.key")).unwrap()),
    )
    .unwrap();
    let native = claude_audit_plugin::Transform::new("{}", vec![key], None).unwrap();
    let expected = native.process_batch(three.as_bytes()).records;
    let sb_three = Sandbox::new();
    let mut fb = FluentBit::new(&[&configured(
        &sb_three,
        "[input]\nmax_record_bytes = 4194304\n",
    )]);
    assert_eq!(
        fb.call_bytes(three.as_bytes()),
        expected.strip_suffix(b"\n").unwrap()
    );
    // One byte over the default limit: `too_long`, as `run` says.
    let over = big((1 << 20) + 1 - big(0).len());
    let (_, dead) = run_reference(&sb, over.as_bytes(), "");
    let mut fb = FluentBit::new(&[&configured(&sb, "")]);
    let answer = fb.call(over.as_bytes());
    assert_eq!(answer[DEAD_LETTER_KEY]["kind"], "too_long");
    assert_eq!(answer[DEAD_LETTER_KEY]["reason"], dead[0]["reason"]);
}

#[test]
fn ten_thousand_calls_do_not_grow_memory() {
    let sb = Sandbox::new();
    let input = std::fs::read(fixture("activities.ndjson")).unwrap();
    let mut records: Vec<Vec<u8>> = input
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    records.push(b"{not json".to_vec());
    records.push(br#"{"id":"activity_1","created_at":"2026-05-18T12:58:03Z"}"#.to_vec());
    let mut fb = FluentBit::new(&[&configured(&sb, "")]);
    let call = |fb: &mut FluentBit, i: usize| {
        // Distinct ids, so that no answer is a cached repeat.
        let record = &records[i % records.len()];
        let record = String::from_utf8_lossy(record).replacen(
            "\"id\":\"activity_",
            &format!("\"id\":\"activity_{i:05}"),
            1,
        );
        fb.call_in(FORMATS[i % 2], record.as_bytes())
    };
    for i in 0..2_000 {
        call(&mut fb, i);
    }
    let warm = fb.memory_pages();
    for i in 2_000..10_000 {
        call(&mut fb, i);
    }
    eprintln!("linear memory after warm-up and after 10k calls: {warm} pages");
    assert_eq!(
        fb.memory_pages(),
        warm,
        "linear memory grew after warm-up: a leak"
    );
}

#[test]
fn a_null_or_out_of_memory_record_pointer_is_a_dead_letter_not_a_crash() {
    let sb = Sandbox::new();
    let mut fb = FluentBit::new(&[&configured(&sb, "")]);
    let tag_ptr = fb.dup(&[TAG.as_bytes(), b"\0"].concat());
    let pages = fb.memory_pages() as u32;
    for (ptr, len) in [
        (0, 12_000),
        (pages * WASM_PAGE as u32 - 10, 100),
        (u32::MAX - 4, 100),
    ] {
        for answer in [
            fb.call_raw(tag_ptr, ptr, len),
            fb.call_raw_msgpack(ptr, len),
        ] {
            let answer: Value = serde_json::from_slice(&answer).unwrap();
            let marker = &answer[DEAD_LETTER_KEY];
            assert_eq!(marker["kind"], "no_record_data", "{answer}");
            assert_eq!(marker["length"], len, "{answer}");
        }
    }
    // The instance is still good.
    let record = crate::malformed::valid(1);
    assert!(fb.call(record.as_bytes())["schema_version"].is_string());
}

#[test]
fn without_a_valid_configuration_every_record_is_a_dead_letter() {
    let sb = Sandbox::new();
    let empty = sb.path("empty");
    std::fs::create_dir(&empty).unwrap();
    let bad_toml = sb.path("bad-toml");
    std::fs::create_dir(&bad_toml).unwrap();
    std::fs::write(
        bad_toml.join("claude-audit.toml"),
        "[keys\nhmac = \"LEAKCANARY-secret\"\n",
    )
    .unwrap();
    let short_key = sb.path("short-key");
    std::fs::create_dir(&short_key).unwrap();
    std::fs::write(short_key.join("k.key"), "LEAKCANARY").unwrap();
    std::fs::write(
        short_key.join("claude-audit.toml"),
        "[keys]\nhmac = [{ id = \"k1\", file = \"k.key\" }]\n",
    )
    .unwrap();
    let no_key = sb.path("no-key");
    std::fs::create_dir(&no_key).unwrap();
    std::fs::write(no_key.join("claude-audit.toml"), "[plugin]\n").unwrap();

    let cases: [(&[&Path], &str); 5] = [
        (&[], "no claude-audit.toml"),
        (&[&empty], "no claude-audit.toml"),
        (&[&bad_toml], "line 1"),
        (&[&short_key], "at least 32 bytes"),
        (&[&no_key], "redaction needs an HMAC key"),
    ];
    let records = std::fs::read(fixture("activities.ndjson")).unwrap();
    for (dirs, expected) in cases {
        let mut fb = FluentBit::new(dirs);
        for record in records
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .take(20)
        {
            let answer = fb.call(record);
            let packed: Value =
                serde_json::from_slice(&fb.call_in(Format::Msgpack, record)).unwrap();
            assert_eq!(packed, answer);
            let text = answer.to_string();
            assert_eq!(answer.as_object().unwrap().len(), 1, "{text}");
            assert_eq!(answer[DEAD_LETTER_KEY]["kind"], "config_error", "{text}");
            assert!(text.contains(expected), "{expected}: {text}");
            assert!(!text.contains("LEAKCANARY"), "{text}");
            // Nothing of the record but its activity id.
            assert!(!text.contains("@example.com"), "{text}");
            assert!(
                answer[DEAD_LETTER_KEY]["activity_id"]
                    .as_str()
                    .unwrap()
                    .starts_with("activity_")
            );
        }
        let err = fb.stderr_text();
        assert_eq!(err.lines().count(), 1, "one message, once: {err}");
        assert!(err.contains("configuration error"), "{err}");
        assert!(err.contains(expected), "{expected}: {err}");
        assert!(!err.contains("LEAKCANARY"), "{err}");
        assert!(fb.stdout.contents().is_empty());
    }
}

/// The README's Fluent Bit configuration example is real: the module loads
/// it (key path pointed at the test key) and applies its policy.
#[test]
fn readme_fluent_bit_configuration_example_works() {
    let readme = std::fs::read_to_string(repo_file("README.md")).unwrap();
    let section = &readme[readme.find("## Fluent Bit").expect("section")..];
    let start = section.find("```toml\n").expect("toml block") + "```toml\n".len();
    let block = &section[start..start + section[start..].find("```").unwrap()];
    let sb = Sandbox::new();
    let dir = sb.path("etc");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(fixture("test-hmac.key"), dir.join("hmac-k1.key")).unwrap();
    std::fs::write(dir.join("claude-audit.toml"), block).unwrap();
    let mut fb = FluentBit::new(&[&dir]);
    assert!(
        fb.stderr_text().contains("filter ready"),
        "{}",
        fb.stderr_text()
    );
    let input = std::fs::read_to_string(fixture("activities.ndjson")).unwrap();
    let accessed = input
        .lines()
        .find(|l| l.contains("\"type\":\"compliance_api_accessed\""))
        .unwrap();
    assert_eq!(
        fb.call(accessed.as_bytes()),
        serde_json::json!({"claude_audit_filtered": "type_filter"})
    );
    let other = input
        .lines()
        .find(|l| !l.contains("compliance_api_accessed"))
        .unwrap();
    assert_eq!(
        fb.call(other.as_bytes())["redaction_metadata"]["key_id"],
        "k1"
    );
}

#[test]
fn every_profile_gives_the_bytes_run_gives() {
    let input = std::fs::read(fixture("activities.ndjson")).unwrap();
    let records: Vec<&[u8]> = input
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    for profile in ["ocsf", "ecs"] {
        let sb = Sandbox::new();
        let config = format!("[plugin]\nprofile = \"{profile}\"\n");
        let (events, dead) = run_reference(&sb, &input, &config);
        assert!(dead.is_empty());
        assert_eq!(events.len(), 312);
        let mut fb = FluentBit::new(&[&configured(&sb, &config)]);
        for (i, (record, event)) in records.iter().zip(&events).enumerate() {
            let format = FORMATS[i % 2];
            assert_eq!(
                fb.call_in(format, record),
                *event,
                "{profile}, {format:?}: record {i} differs from `claude-audit run`"
            );
        }
        let first: Value = serde_json::from_slice(&events[0]).unwrap();
        let version = if profile == "ocsf" {
            &first["metadata"]["version"]
        } else {
            &first["ecs"]["version"]
        };
        assert!(version.is_string(), "{profile}: {first}");
    }
}

/// Each export answers a record in the format the record came in, so that a
/// `function_name` naming the other export still gives what Fluent Bit can
/// read; a msgpack record that is cut short is a dead letter that quotes
/// nothing of it.
#[test]
fn each_export_answers_in_the_format_of_the_record() {
    let sb = Sandbox::new();
    let mut fb = FluentBit::new(&[&configured(&sb, "")]);
    let record = crate::malformed::valid(3);
    let expected = fb.call_bytes(record.as_bytes());
    let packed = pack(record.as_bytes());
    // JSON text (plus NUL) to the msgpack export: a JSON answer.
    let ptr = fb.dup(&[record.as_bytes(), b"\0"].concat());
    let filter = fb.filter_msgpack.clone();
    let answer = fb.result(filter, (0, ptr, record.len() as u32));
    fb.free.call(&mut fb.store, ptr).unwrap();
    assert_eq!(answer, expected);
    // msgpack to the JSON export: a msgpack answer.
    let ptr = fb.dup(&packed);
    let filter = fb.filter.clone();
    let answer = fb.result(filter, (0, ptr, packed.len() as u32));
    fb.free.call(&mut fb.store, ptr).unwrap();
    assert_eq!(unwrap_msgpack(&answer), expected);
    // A cut map.
    let cut = &packed[..packed.len() - 5];
    let ptr = fb.dup(cut);
    let answer: Value =
        serde_json::from_slice(&fb.call_raw_msgpack(ptr, cut.len() as u32)).unwrap();
    fb.free.call(&mut fb.store, ptr).unwrap();
    assert_eq!(
        answer[DEAD_LETTER_KEY]["kind"], "invalid_msgpack",
        "{answer}"
    );
    assert!(
        !answer.to_string().contains("valid3@example.com"),
        "{answer}"
    );
}
