//! The Fluent Bit filter's logic: one record in, exactly one JSON object out.
//!
//! Fluent Bit's `wasm` filter (see `abi/fluentbit.rs` for the ABI) hands the
//! module one record at a time and gives it no argv and no environment, only
//! the directories listed in the filter's `accessible_paths`. So this module:
//!
//! - reads its configuration once from [`CONFIG_FILE_NAME`] in exactly one of
//!   those directories: the same TOML as `claude-audit run --config`
//!   (`[input]`, `[plugin]`, `[keys]`), with HMAC keys read from key files
//!   (raw bytes or hex, at least 32 bytes, as in `host/src/keys.rs`);
//! - answers every record with one JSON object, never an empty string:
//!   Fluent Bit drops a record whose result is empty or not a JSON object,
//!   and logs an invalid result verbatim, which could put data in its log.
//!
//! The three answers are the normalized event, a `filtered` marker (the type
//! filter of the policy, which a Fluent Bit `grep` can drop), or a dead-letter
//! marker. A dead-letter marker never carries the raw record: unlike the
//! 0600 dead-letter file of `claude-audit run`, it travels in the same stream
//! as the events, and one missing routing rule would then send raw PII to the
//! normal output. It carries what is safe and enough to find the raw record
//! at its source: kind, field, reason (never a record value), length and, when
//! the record has a well-formed one, the activity id.
//!
//! With `[plugin.detections] enabled = true` the rule pack runs in the
//! module instance (its state lives there and is lost when Fluent Bit
//! restarts); an event that raised alerts carries them under
//! [`ALERTS_KEY`], since one record in gives at most one record out, and
//! `pipelines/fluent-bit/split-alerts.lua` splits them into records.
//!
//! If the configuration is missing or invalid the filter fails closed: every
//! record becomes a `config_error` dead letter; nothing unredacted goes out.
//!
//! In `event_format: msgpack` the record arrives as msgpack and the answer
//! leaves wrapped in a one-entry msgpack map ([`msgpack`]).
//!
//! This module is plain Rust (compiled on every target) so that it is unit
//! tested natively; only the pointer handling lives in `abi/fluentbit.rs`.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::batch::Transform;
use crate::config::InputConfig;
use crate::error::RecordErrorKind;
use crate::redact::pseudonym::{HmacKey, MIN_KEY_BYTES};

pub mod msgpack;

/// The configuration file the filter looks for in each directory of its
/// `accessible_paths` (exactly one of them must hold it).
pub const CONFIG_FILE_NAME: &str = "claude-audit.toml";

/// Top-level key of a dead-letter marker:
/// `{"claude_audit_dead_letter":{"kind":..,"field":..,"reason":..,"length":..}}`.
/// Route on it with Fluent Bit's `rewrite_tag` (see the README).
pub const DEAD_LETTER_KEY: &str = "claude_audit_dead_letter";

/// Top-level key of the marker that replaces a record dropped by the type
/// filter (`include_types` / `exclude_types`): `{"claude_audit_filtered":"type_filter"}`.
/// Fluent Bit cannot drop a record from a `wasm` filter without logging an
/// error, so the record is replaced by this marker and a `grep` drops it.
pub const FILTERED_KEY: &str = "claude_audit_filtered";

/// Top-level key under which an event carries the alerts it raised (with
/// `[plugin.detections] enabled = true`); see [`attach_alerts`].
pub const ALERTS_KEY: &str = "claude_audit_alerts";

/// Dead-letter kind: the configuration could not be loaded (fail closed).
pub const KIND_CONFIG_ERROR: &str = "config_error";
/// Dead-letter kind: Fluent Bit passed no record bytes (a null or
/// out-of-memory pointer with a length: its copy into the module failed).
pub const KIND_NO_RECORD_DATA: &str = "no_record_data";
/// Dead-letter kind: the event could not be handed to Fluent Bit (it would
/// have held a NUL byte, which the C string result cannot carry). JSON
/// escaping makes this impossible; the check stays as a guard.
pub const KIND_INTERNAL_ERROR: &str = "internal_error";

/// Longest activity id copied into a dead-letter marker.
const MAX_ACTIVITY_ID_BYTES: usize = 128;

/// The configured filter, or the reason it could not be configured.
#[derive(Debug)]
pub struct Filter {
    state: Result<Ready, ConfigFailure>,
}

/// A filter whose configuration loaded.
#[derive(Debug)]
struct Ready {
    transform: Transform,
    max_record_bytes: usize,
    config_path: PathBuf,
    key_id: Option<String>,
}

/// Why the configuration could not be loaded. The message names files and
/// settings, never key bytes or configuration values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFailure {
    /// What is wrong and what to do about it.
    pub message: String,
}

/// What a filter call produced, for callers that count (tests, logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// A normalized event.
    Event,
    /// A `claude_audit_filtered` marker.
    Filtered,
    /// A `claude_audit_dead_letter` marker.
    DeadLetter,
}

impl Filter {
    /// Find [`CONFIG_FILE_NAME`] in `dirs` (the preopened directories) and
    /// load it. Never fails: a problem becomes a filter that dead-letters
    /// every record, and [`Filter::status_message`] says why.
    pub fn load(dirs: &[PathBuf]) -> Self {
        let state = find_config(dirs).and_then(|path| load_file(&path));
        Self { state }
    }

    /// Load the configuration from `path` (the file itself, not a directory).
    pub fn from_file(path: &Path) -> Self {
        Self {
            state: load_file(path),
        }
    }

    /// Whether the configuration loaded (records are normalized) or not
    /// (every record is a `config_error` dead letter).
    pub fn is_ready(&self) -> bool {
        self.state.is_ok()
    }

    /// One line for stderr at start-up: what was loaded, or what is wrong.
    /// It names files, key ids and settings, never key bytes or records.
    pub fn status_message(&self) -> String {
        match &self.state {
            Ok(ready) => format!(
                "claude-audit: Fluent Bit filter ready: configuration {}, schema {}, {}",
                ready.config_path.display(),
                crate::SCHEMA_VERSION,
                match &ready.key_id {
                    Some(id) => format!("pseudonymization key `{id}`"),
                    None => "redaction disabled by configuration".to_owned(),
                }
            ),
            Err(failure) => format!(
                "claude-audit: Fluent Bit filter configuration error: {} -- every record will be \
                 marked as a dead letter ({DEAD_LETTER_KEY}.kind = {KIND_CONFIG_ERROR}) until \
                 this is fixed and Fluent Bit is restarted",
                failure.message
            ),
        }
    }

    /// Answer one record: clear `out` and write one JSON object into it
    /// (without a trailing NUL). `None` means Fluent Bit passed no usable
    /// bytes for a record of `claimed_len` bytes.
    pub fn process(&self, record: Option<&[u8]>, claimed_len: usize, out: &mut Vec<u8>) -> Answer {
        out.clear();
        let Some(record) = record else {
            return dead_letter(
                out,
                &Marker {
                    kind: KIND_NO_RECORD_DATA,
                    field: "",
                    reason: "Fluent Bit passed no record bytes (its copy of the record into the \
                             filter's memory failed)",
                    length: claimed_len,
                    activity_id: None,
                },
            );
        };
        let ready = match &self.state {
            Ok(ready) => ready,
            Err(failure) => {
                return dead_letter(
                    out,
                    &Marker {
                        kind: KIND_CONFIG_ERROR,
                        field: "",
                        reason: &format!(
                            "the claude-audit filter is not configured: {}",
                            failure.message
                        ),
                        length: record.len(),
                        activity_id: activity_id(record).as_deref(),
                    },
                );
            }
        };
        if record.len() > ready.max_record_bytes {
            // Not parsed at all: the limit bounds the work per record. The
            // reason is the one `claude-audit run` writes.
            let reason = format!(
                "the line is {} bytes long, over the limit of {} bytes (input.max_record_bytes)",
                record.len(),
                ready.max_record_bytes
            );
            return dead_letter(
                out,
                &Marker {
                    kind: RecordErrorKind::TooLong.as_str(),
                    field: "",
                    reason: &reason,
                    length: record.len(),
                    activity_id: None,
                },
            );
        }
        let result = ready.transform.process_record(record);
        if let Some(dead) = result.dead_letters.first() {
            let error = &dead.error;
            return dead_letter(
                out,
                &Marker {
                    kind: error.kind.as_str(),
                    field: &error.field,
                    reason: &error.detail,
                    length: record.len(),
                    activity_id: activity_id(record).as_deref(),
                },
            );
        }
        if result.counters.filtered > 0 {
            out.extend_from_slice(br#"{"claude_audit_filtered":"type_filter"}"#);
            return Answer::Filtered;
        }
        let event = result
            .records
            .strip_suffix(b"\n")
            .unwrap_or(&result.records);
        if memchr::memchr(0, event).is_some() {
            return dead_letter(
                out,
                &Marker {
                    kind: KIND_INTERNAL_ERROR,
                    field: "",
                    reason: "the event held a NUL byte, which Fluent Bit's C string result \
                             cannot carry",
                    length: record.len(),
                    activity_id: activity_id(record).as_deref(),
                },
            );
        }
        out.extend_from_slice(event);
        attach_alerts(out, &result.alerts);
        Answer::Event
    }
}

/// Attach the alerts an event raised (NDJSON, already in the profile) to
/// the event as `{..., "claude_audit_alerts": [alert, ...]}`: Fluent Bit's
/// `wasm` filter gives exactly one record out per record in, so alerts
/// cannot be records of their own here. The Lua filter
/// `pipelines/fluent-bit/split-alerts.lua` turns the array back into
/// records that follow their event, as `claude-audit run` writes them.
fn attach_alerts(out: &mut Vec<u8>, alerts: &[u8]) {
    if alerts.is_empty() || out.last() != Some(&b'}') {
        return;
    }
    out.pop();
    if out.len() > 1 {
        out.push(b',');
    }
    out.extend_from_slice(b"\"");
    out.extend_from_slice(ALERTS_KEY.as_bytes());
    out.extend_from_slice(b"\":[");
    let lines = alerts.split(|b| *b == b'\n').filter(|l| !l.is_empty());
    for (i, alert) in lines.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(alert);
    }
    out.extend_from_slice(b"]}");
}

/// The body of a dead-letter marker. Field names are part of the
/// documented output (README, "Fluent Bit").
#[derive(Serialize)]
struct Marker<'a> {
    /// A `claude-audit run` dead-letter kind, or one of the `KIND_*` above.
    kind: &'a str,
    /// Dotted path of the offending field, empty if none.
    field: &'a str,
    /// Explanation; never a record value.
    reason: &'a str,
    /// Length of the record in bytes (as Fluent Bit passed it).
    length: usize,
    /// The record's activity id, when it has a well-formed one: the handle
    /// to find the raw record at its source.
    #[serde(skip_serializing_if = "Option::is_none")]
    activity_id: Option<&'a str>,
}

fn dead_letter(out: &mut Vec<u8>, marker: &Marker<'_>) -> Answer {
    out.clear();
    #[derive(Serialize)]
    struct Wrapper<'a> {
        claude_audit_dead_letter: &'a Marker<'a>,
    }
    // Writing plain strings and integers into a Vec cannot fail; should it
    // ever, the marker stays a valid object rather than a torn one.
    if serde_json::to_writer(
        &mut *out,
        &Wrapper {
            claude_audit_dead_letter: marker,
        },
    )
    .is_err()
    {
        out.clear();
        out.extend_from_slice(br#"{"claude_audit_dead_letter":{"kind":"internal_error"}}"#);
    }
    Answer::DeadLetter
}

/// The record's top-level `id` if it is shaped like a feed activity id
/// (`activity_` + ASCII letters and digits): an opaque identifier, safe to
/// copy out of a record that is otherwise withheld. Anything else is
/// withheld too.
fn activity_id(record: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct IdOnly<'a> {
        #[serde(borrow, default)]
        id: Option<Cow<'a, str>>,
    }
    let id = serde_json::from_slice::<IdOnly<'_>>(record).ok()?.id?;
    let rest = id.strip_prefix("activity_")?;
    let well_formed = !rest.is_empty()
        && id.len() <= MAX_ACTIVITY_ID_BYTES
        && rest.bytes().all(|b| b.is_ascii_alphanumeric());
    well_formed.then(|| id.into_owned())
}

/// The configuration file: the tables of `claude-audit run --config`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    /// `[input]`: record size limit.
    #[serde(default)]
    input: InputConfig,
    /// `[plugin]`: the plugin settings (README, "Plugin settings").
    #[serde(default)]
    plugin: toml::Table,
    /// `[keys]`: where the HMAC keys are.
    #[serde(default)]
    keys: KeysConfig,
}

/// `[keys]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysConfig {
    /// Id of the key that pseudonymizes (needed with several keys).
    #[serde(default)]
    active: Option<String>,
    /// HMAC keys: `{ id = "k1", file = "hmac-k1.key" }`.
    #[serde(default)]
    hmac: Vec<KeyEntry>,
    /// The vault key: accepted by the parser only to refuse it clearly.
    #[serde(default)]
    vault: Option<toml::Value>,
}

/// One `[keys].hmac` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    /// Key id written into pseudonyms.
    id: String,
    /// Key file; relative paths are relative to the configuration file's
    /// directory.
    #[serde(default)]
    file: Option<PathBuf>,
    /// Accepted by the parser only to refuse it clearly: Fluent Bit gives
    /// the module no environment.
    #[serde(default)]
    env: Option<String>,
}

/// The one directory of `dirs` that holds [`CONFIG_FILE_NAME`].
fn find_config(dirs: &[PathBuf]) -> Result<PathBuf, ConfigFailure> {
    let listed = || {
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let found: Vec<PathBuf> = dirs
        .iter()
        .map(|dir| dir.join(CONFIG_FILE_NAME))
        .filter(|path| path.is_file())
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(failure(format!(
            "no {CONFIG_FILE_NAME} in the filter's accessible_paths ({}); put the \
             configuration there",
            if dirs.is_empty() {
                "none".to_owned()
            } else {
                listed()
            }
        ))),
        several => Err(failure(format!(
            "{CONFIG_FILE_NAME} is in several accessible_paths ({}); keep exactly one",
            several
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn failure(message: String) -> ConfigFailure {
    ConfigFailure { message }
}

/// Read, parse and check the configuration file, load its keys and build
/// the transform.
fn load_file(path: &Path) -> Result<Ready, ConfigFailure> {
    let at = |message: String| failure(format!("{}: {message}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| at(format!("cannot read it: {e}")))?;
    let config: FileConfig = toml::from_str(&text).map_err(|e| at(toml_error(&text, &e)))?;

    config.input.check().map_err(at)?;
    // The forensic vault needs a private file for the pseudonym pairs; the
    // filter has none, and silently dropping the pairs would break `reveal`.
    let vault_setting = config
        .plugin
        .get("redaction")
        .and_then(|r| r.get("vault"))
        .is_some();
    if config.keys.vault.is_some() || vault_setting {
        return Err(at(
            "the forensic vault (keys.vault, plugin.redaction.vault) is not available in the \
             Fluent Bit filter; remove it from this file (use `claude-audit run --vault` for \
             vaulted runs)"
                .to_owned(),
        ));
    }
    let dir = path.parent().unwrap_or(Path::new(""));
    let mut keys = Vec::with_capacity(config.keys.hmac.len());
    for entry in &config.keys.hmac {
        keys.push(load_key(entry, dir).map_err(at)?);
    }
    let settings = serde_json::to_string(&config.plugin)
        .map_err(|e| at(format!("encoding [plugin] as JSON: {e}")))?;
    let transform =
        Transform::new(&settings, keys, config.keys.active.as_deref()).map_err(|e| {
            let message = without_values(&e.to_string());
            at(if e.path == "keys" {
                message
            } else {
                format!("plugin.{message}")
            })
        })?;
    let key_id = transform.key_id().map(str::to_owned);
    Ok(Ready {
        transform,
        max_record_bytes: config.input.max_record_bytes,
        config_path: path.to_owned(),
        key_id,
    })
}

/// A TOML error as position and message, without the source excerpt that
/// `toml`'s `Display` adds: a misplaced secret in the file must not reach a
/// log.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = without_values(e.message());
    match e.span().and_then(|span| text.get(..span.start)) {
        Some(before) => {
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

/// A serde message without the offending value: `invalid type: string
/// "…", expected a sequence` becomes `invalid type, expected a sequence`.
/// A key pasted into the wrong place of the file would otherwise be
/// repeated on stderr and in every dead letter.
fn without_values(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(start) = message.find(prefix)
            && let Some(expected) = message[start..].find(", expected ")
        {
            return format!(
                "{}{}{}",
                &message[..start],
                prefix.trim_end_matches(": "),
                &message[start + expected..]
            );
        }
    }
    message.to_owned()
}

/// Load one HMAC key from its file.
fn load_key(entry: &KeyEntry, dir: &Path) -> Result<HmacKey, String> {
    let what = format!("keys.hmac `{}`", entry.id);
    let file = match (&entry.file, &entry.env) {
        (Some(file), None) => file,
        (None, Some(_)) => {
            return Err(format!(
                "{what}: Fluent Bit gives the filter no environment variables; use \
                 `file = \"...\"` (a key file in the accessible_paths)"
            ));
        }
        _ => return Err(format!("{what}: give `file`")),
    };
    let path = dir.join(file);
    let raw = std::fs::read(&path)
        .map_err(|e| format!("{what}: cannot read key file {}: {e}", path.display()))?;
    let secret = decode_key(&raw);
    let len = secret.len();
    HmacKey::new(entry.id.clone(), secret).ok_or_else(|| {
        format!(
            "{what}: a key needs at least {MIN_KEY_BYTES} bytes (this one has {len}; make one \
             with: openssl rand -hex 32) and an id of at most 64 characters without `:`"
        )
    })
}

/// Key file contents to key bytes: hex text (at least 64 hex digits, even
/// count) becomes the bytes it encodes; anything else is taken as raw bytes.
/// Surrounding white space is ignored. This is the rule of
/// `claude-audit run` (host/src/keys.rs uses this function), so one key file
/// gives the same pseudonyms in both.
pub fn decode_key(raw: &[u8]) -> Vec<u8> {
    let trimmed = raw.trim_ascii();
    let is_hex = trimmed.len() >= 2 * MIN_KEY_BYTES
        && trimmed.len().is_multiple_of(2)
        && trimmed.iter().all(u8::is_ascii_hexdigit);
    if is_hex && let Ok(bytes) = data_encoding::HEXLOWER_PERMISSIVE.decode(trimmed) {
        return bytes;
    }
    trimmed.to_vec()
}

#[cfg(test)]
mod tests;
