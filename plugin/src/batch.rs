//! A batch of NDJSON records in, events, dead letters and counters out.
//!
//! This is the unit of work that crosses the WebAssembly boundary: one call
//! per batch, never per record. The framing rules are those of
//! `process-batch` in `wit/transform.wit`.

use std::sync::Mutex;

use crate::config::{Settings, Stage};
use crate::detect::{Detector, StateError};
use crate::error::{ConfigError, ConfigErrorKind, RecordError, RecordErrorKind};
use crate::json_writer::Layout;
use crate::normalize::{Disposition, Unmapped, normalize_line};
use crate::profile;
use crate::redact::pseudonym::HmacKey;
use crate::redact::{Coverage, Redactor, VaultEntry};

/// One record that was not emitted, with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Zero-based index of the record (line) within the batch.
    pub index: u32,
    /// Why it was not emitted.
    pub error: RecordError,
}

/// Per-batch accounting: `records = emitted + dead_lettered + filtered`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Records (lines) in the batch.
    pub records: u32,
    /// Events written to the output.
    pub emitted: u32,
    /// Records reported as dead letters.
    pub dead_lettered: u32,
    /// Valid records dropped by the configured type filter.
    pub filtered: u32,
    /// Emitted events whose activity type is unknown.
    pub unmapped_event_types: u32,
    /// Emitted events whose actor variant is unknown.
    pub unmapped_actor_types: u32,
    /// Emitted events carrying undocumented fields.
    pub unmapped_fields: u32,
    /// Alerts written to `BatchOutput::alerts` (not input records).
    pub alerts: u32,
    /// Alerts dropped by a configured suppression.
    pub alerts_suppressed: u32,
}

/// The result of one batch.
#[derive(Debug, Default)]
pub struct BatchOutput {
    /// Emitted events, NDJSON, in input order.
    pub records: Vec<u8>,
    /// Records not emitted, in input order.
    pub dead_letters: Vec<DeadLetter>,
    /// Accounting.
    pub counters: Counters,
    /// Pseudonym -> original pairs for the forensic vault (empty unless
    /// `redaction.vault` is on).
    pub vault: Vec<VaultEntry>,
    /// Alerts raised by the batch's events, NDJSON (empty unless
    /// `detections.enabled`).
    pub alerts: Vec<u8>,
}

/// A configured transform, ready to process batches.
#[derive(Debug)]
pub struct Transform {
    settings: Settings,
    redactor: Option<Redactor>,
    /// The detection engine, when enabled. Behind a lock because batches
    /// take `&self` and the engine remembers; the guest is single-threaded,
    /// so the lock is never contended.
    detector: Option<Mutex<Detector>>,
    /// Fluent Bit group context of Claude Code records.
    telemetry: crate::telemetry::Context,
}

impl Transform {
    /// Build a transform from a JSON settings document (`{}` for defaults)
    /// and the HMAC keys. Redaction is on by default and then needs a key:
    /// the one named `active_key`, or the only one given.
    pub fn new(
        settings_json: &str,
        keys: Vec<HmacKey>,
        active_key: Option<&str>,
    ) -> Result<Self, ConfigError> {
        Self::build(
            settings_json,
            keys,
            active_key,
            Vec::new(),
            Coverage::full(),
        )
    }

    /// [`Transform::new`], redacting with `coverage` instead of everything:
    /// for the benchmark that measures what each detector family costs.
    pub fn with_coverage(
        settings_json: &str,
        keys: Vec<HmacKey>,
        active_key: Option<&str>,
        coverage: Coverage,
    ) -> Result<Self, ConfigError> {
        Self::build(settings_json, keys, active_key, Vec::new(), coverage)
    }

    /// [`Self::new`] with IP enrichment from `geoip_databases` (the bytes
    /// of MaxMind-format files; none: no enrichment, and the rules that
    /// need it are inactive).
    pub fn with_geoip(
        settings_json: &str,
        keys: Vec<HmacKey>,
        active_key: Option<&str>,
        geoip_databases: Vec<Vec<u8>>,
    ) -> Result<Self, ConfigError> {
        Self::build(
            settings_json,
            keys,
            active_key,
            geoip_databases,
            Coverage::full(),
        )
    }

    /// The one constructor behind the three above.
    fn build(
        settings_json: &str,
        keys: Vec<HmacKey>,
        active_key: Option<&str>,
        geoip_databases: Vec<Vec<u8>>,
        coverage: Coverage,
    ) -> Result<Self, ConfigError> {
        let mut settings = Settings::from_json(settings_json)?;
        if !geoip_databases.is_empty() {
            let geoip = crate::enrich::GeoIp::new(geoip_databases)?;
            settings.geoip = Some(std::sync::Arc::new(geoip));
        }
        // The detect stage's events were redacted by the instances that
        // wrote them: it writes no value of its own, so it builds no
        // redactor (compiling the detectors is most of a start-up).
        let redactor = if settings.redaction.enabled && settings.stage == Stage::Whole {
            let key = active(keys, active_key)?;
            Some(Redactor::with_coverage(
                settings.redaction.clone(),
                key,
                coverage,
            )?)
        } else {
            None
        };
        let detector = if settings.detections.enabled {
            let enriched = settings.geoip.is_some()
                || matches!(settings.stage, Stage::Detect { enriched: true });
            Some(Mutex::new(Detector::new(
                settings.detections.clone(),
                enriched,
            )?))
        } else {
            None
        };
        Ok(Self {
            settings,
            redactor,
            detector,
            telemetry: crate::telemetry::Context::default(),
        })
    }

    /// The detection state (versioned JSON); `None` when detections are off.
    pub fn export_state(&self) -> Option<Vec<u8>> {
        let detector = self.detector.as_ref()?;
        Some(lock(detector).export_state())
    }

    /// Replace the detection state with an exported one.
    pub fn import_state(&self, state: &[u8]) -> Result<(), StateError> {
        let detector = self.detector.as_ref().ok_or(StateError::NotEnabled)?;
        lock(detector).import_state(state)
    }

    /// Id of the key that pseudonymizes; `None` when redaction is off.
    pub fn key_id(&self) -> Option<&str> {
        self.redactor.as_ref().map(|r| r.key_id())
    }

    /// Process one NDJSON batch.
    pub fn process_batch(&self, input: &[u8]) -> BatchOutput {
        // Events are roughly twice the size of the activities they come from.
        let mut out = BatchOutput {
            records: Vec::with_capacity(input.len() * 2 + 1024),
            ..BatchOutput::default()
        };
        if let Stage::Detect { .. } = self.settings.stage {
            for (index, line) in lines(input).enumerate() {
                let index = u32::try_from(index).unwrap_or(u32::MAX);
                self.detect_stage_into(index, line, &mut out);
            }
            return out;
        }
        // Where each event's members are, for the engine (reused).
        let mut layout = self.detector.is_some().then(Layout::default);
        for (index, line) in lines(input).enumerate() {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            self.process_into(index, line, &mut out, layout.as_mut());
        }
        out
    }

    /// The `detect` stage of one record: `event` is a canonical event this
    /// plugin wrote (see [`Stage::Detect`]); it is evaluated, then written
    /// in the profile. Its members are not listed, so the engine scans it.
    fn detect_stage_into(&self, index: u32, event: &[u8], out: &mut BatchOutput) {
        out.counters.records += 1;
        let result = if event.is_empty() {
            Err(RecordError::record(
                RecordErrorKind::BlankLine,
                "an empty event",
            ))
        } else {
            let start = out.records.len();
            out.records.extend_from_slice(event);
            out.records.push(b'\n');
            // Its unmapped parts were counted by the instance that wrote it.
            self.finish_event(start, out, None)
                .map(|()| Disposition::Emitted(Unmapped::default()))
        };
        count(index, result, out);
    }

    /// Process one record, unframed: all of `record` is the record (a `\n`
    /// inside it is part of it, and an empty record is a `blank_line` dead
    /// letter), so that exactly one record is accounted for. For per-record
    /// callers such as the Fluent Bit filter; NDJSON goes through
    /// [`Self::process_batch`].
    pub fn process_record(&self, record: &[u8]) -> BatchOutput {
        let mut out = BatchOutput {
            records: Vec::with_capacity(record.len() * 2 + 1024),
            ..BatchOutput::default()
        };
        if let Stage::Detect { .. } = self.settings.stage {
            self.detect_stage_into(0, record, &mut out);
            return out;
        }
        let mut layout = self.detector.is_some().then(Layout::default);
        self.process_into(0, record, &mut out, layout.as_mut());
        out
    }

    /// Normalize one record into `out` and count it; `layout`: where its
    /// event's members are listed for the engine (when detections are on).
    fn process_into(
        &self,
        index: u32,
        line: &[u8],
        out: &mut BatchOutput,
        mut layout: Option<&mut Layout>,
    ) {
        out.counters.records += 1;
        let redactor = self.redactor.as_ref();
        let start = out.records.len();
        // Only events written with a layout get one (see `Layout`).
        if let Some(layout) = layout.as_deref_mut() {
            layout.forget();
        }
        let result = if crate::telemetry::recognize(line) {
            crate::telemetry::normalize_line(
                line,
                &self.telemetry,
                &self.settings,
                redactor,
                &mut out.records,
                &mut out.vault,
            )
        } else {
            normalize_line(
                line,
                &self.settings,
                redactor,
                &mut out.records,
                &mut out.vault,
                layout.as_deref_mut(),
            )
        };
        let result = match result {
            Ok(Disposition::Emitted(unmapped)) => self
                .finish_event(start, out, layout.as_deref())
                .map(|()| Disposition::Emitted(unmapped)),
            other => other,
        };
        count(index, result, out);
    }

    /// The canonical event written at `start`: evaluated by the rule pack,
    /// then rewritten in the profile. Detection reads the canonical event,
    /// so it runs before the profile rewrites it (the profile is last).
    fn finish_event(
        &self,
        start: usize,
        out: &mut BatchOutput,
        layout: Option<&Layout>,
    ) -> Result<(), RecordError> {
        self.detect(start, out, layout);
        profile::apply(self.settings.profile, &mut out.records, start)
    }

    /// Run the rule pack over the canonical event written at `start`, its
    /// members listed in `layout` (positions in `out.records`) when known.
    fn detect(&self, start: usize, out: &mut BatchOutput, layout: Option<&Layout>) {
        if let Some(detector) = &self.detector {
            let event = &out.records[start..out.records.len() - 1];
            let members = layout.and_then(Layout::members);
            let raised = lock(detector).process_line(
                event,
                members.map(|m| (m, start)),
                self.settings.profile,
                &mut out.alerts,
            );
            out.counters.alerts += raised.0;
            out.counters.alerts_suppressed += raised.1;
        }
    }
}

/// Count what became of the record at `index`.
fn count(index: u32, result: Result<Disposition, RecordError>, out: &mut BatchOutput) {
    match result {
        Ok(Disposition::Emitted(unmapped)) => {
            let c = &mut out.counters;
            c.emitted += 1;
            c.unmapped_event_types += u32::from(unmapped.event_type);
            c.unmapped_actor_types += u32::from(unmapped.actor_type);
            c.unmapped_fields += u32::from(unmapped.fields);
        }
        Ok(Disposition::Filtered) => out.counters.filtered += 1,
        Err(error) => {
            out.counters.dead_lettered += 1;
            out.dead_letters.push(DeadLetter { index, error });
        }
    }
}

/// The engine, even after a panic elsewhere poisoned the lock (a panic
/// aborts in wasm; natively the state is still consistent per event).
fn lock(detector: &Mutex<Detector>) -> std::sync::MutexGuard<'_, Detector> {
    detector
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The key that pseudonymizes.
fn active(keys: Vec<HmacKey>, active_key: Option<&str>) -> Result<HmacKey, ConfigError> {
    let error = |kind, message: String| ConfigError {
        kind,
        path: "keys".to_owned(),
        message,
    };
    match (active_key, keys.len()) {
        (_, 0) => Err(error(
            ConfigErrorKind::MissingKey,
            "redaction needs an HMAC key: configure one (from a file or an environment \
             variable), ask for an ephemeral key, or disable redaction explicitly"
                .to_owned(),
        )),
        (None, 1) => Ok(keys.into_iter().next().expect("one key")),
        (None, _) => Err(error(
            ConfigErrorKind::InvalidValue,
            "several HMAC keys: name the active one".to_owned(),
        )),
        (Some(id), _) => keys.into_iter().find(|k| k.id == id).ok_or_else(|| {
            error(
                ConfigErrorKind::InvalidValue,
                format!("no HMAC key with id `{id}`"),
            )
        }),
    }
}

/// Split NDJSON into records: `\n` separates, a trailing `\r` is dropped, a
/// final `\n` does not start another record.
pub fn lines(input: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = input.strip_suffix(b"\n").unwrap_or(input);
    let mut rest = (!input.is_empty()).then_some(body);
    // `memchr` (SIMD in the component) rather than `split`: a byte at a time
    // cost as much as a tenth of the detection instance's time, whose work
    // per line is small (`runner::detect_stage` in the host).
    std::iter::from_fn(move || {
        let text = rest?;
        let line = match memchr::memchr(b'\n', text) {
            Some(at) => {
                rest = Some(&text[at + 1..]);
                &text[..at]
            }
            None => {
                rest = None;
                text
            }
        };
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_detect_stage_needs_detections_and_passes_events_through() {
        let stage = r#"{"stage":{"detect":{"enriched":false}},"redaction":{"enabled":false}}"#;
        let error = Transform::new(stage, Vec::new(), None).unwrap_err();
        assert_eq!(error.path, "stage");
        let stage = r#"{"stage":{"detect":{"enriched":false}},"redaction":{"enabled":false},
                        "detections":{"enabled":true,"signals":false}}"#;
        let transform = Transform::new(stage, Vec::new(), None).unwrap();
        // A canonical event goes through as written; an empty line is a
        // dead letter, counted.
        let event = br#"{"event_type":"user_signed_in","event_id":"activity_1"}"#;
        let mut input = event.to_vec();
        input.extend_from_slice(b"\n\n");
        let out = transform.process_batch(&input);
        assert_eq!(out.records, [&event[..], b"\n"].concat());
        assert_eq!(out.counters.emitted, 1);
        assert_eq!(out.dead_letters[0].index, 1);
        assert_eq!(out.dead_letters[0].error.kind, RecordErrorKind::BlankLine);
    }

    #[test]
    fn framing_counts_every_line_once() {
        let count = |s: &str| lines(s.as_bytes()).count();
        assert_eq!(count(""), 0);
        assert_eq!(count("\n"), 1);
        assert_eq!(count("a"), 1);
        assert_eq!(count("a\n"), 1);
        assert_eq!(count("a\r\nb\r\n"), 2);
        assert_eq!(count("a\n\nb"), 3);
        assert_eq!(lines(b"a\r\n").next().unwrap(), b"a");
    }

    proptest::proptest! {
        /// The framing is the one of `split` on `\n` (the definition in
        /// `wit/transform.wit`), whatever the bytes.
        #[test]
        fn framing_is_split_on_newlines(input in proptest::collection::vec(
            proptest::sample::select(vec![b'\n', b'\r', b'a', b'{', 0xff]), 0..64)) {
            let body = input.strip_suffix(b"\n").unwrap_or(&input);
            let expected: Vec<&[u8]> = body
                .split(|b| *b == b'\n')
                .filter(|_| !input.is_empty())
                .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
                .collect();
            proptest::prop_assert_eq!(lines(&input).collect::<Vec<_>>(), expected);
        }
    }

    #[test]
    fn counters_add_up_and_dead_letters_keep_their_index() {
        let settings = r#"{"exclude_types":["user_logged_out"],"redaction":{"enabled":false}}"#;
        let t = Transform::new(settings, Vec::new(), None).unwrap();
        let input = concat!(
            r#"{"id":"activity_1","created_at":"2026-05-18T12:58:03Z","organization_id":null,"organization_uuid":null,"actor":{"type":"anthropic_actor","email_address":null},"type":"session_revoked"}"#,
            "\n",
            "not json\n",
            "\n",
            r#"{"id":"activity_2","created_at":"2026-05-18T12:58:03Z","actor":{"type":"anthropic_actor"},"type":"user_logged_out"}"#,
            "\n"
        );
        let out = t.process_batch(input.as_bytes());
        let c = out.counters;
        assert_eq!(
            (c.records, c.emitted, c.dead_lettered, c.filtered),
            (4, 1, 2, 1)
        );
        assert_eq!(out.dead_letters[0].index, 1);
        assert_eq!(out.dead_letters[0].error.kind, RecordErrorKind::InvalidJson);
        assert_eq!(out.dead_letters[1].index, 2);
        assert_eq!(out.dead_letters[1].error.kind, RecordErrorKind::BlankLine);
        assert_eq!(out.records.iter().filter(|b| **b == b'\n').count(), 1);
    }

    #[test]
    fn a_single_record_is_one_record_whatever_its_bytes() {
        let t = Transform::new(r#"{"redaction":{"enabled":false}}"#, Vec::new(), None).unwrap();
        for (record, kind) in [
            (&b""[..], RecordErrorKind::BlankLine),
            (b"{\"a\":\n1}\n{}", RecordErrorKind::InvalidJson),
        ] {
            let out = t.process_record(record);
            assert_eq!((out.counters.records, out.counters.dead_lettered), (1, 1));
            assert_eq!(out.dead_letters[0].error.kind, kind);
        }
        let pretty = "{\n \"id\":\"activity_1\",\"created_at\":\"2026-05-18T12:58:03Z\",\n\"actor\":{\"type\":\"anthropic_actor\"},\"type\":\"session_revoked\"}";
        let out = t.process_record(pretty.as_bytes());
        assert_eq!(out.counters.emitted, 1, "{:?}", out.dead_letters);
    }
}
