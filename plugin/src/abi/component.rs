//! The `claude-audit:transform` component export (`wit/transform.wit`).
//!
//! The guest keeps one configured [`Transform`] in a global: a component
//! instance is single-threaded and the host calls `configure` once, then
//! `process-batch` many times.

use std::cell::RefCell;

use crate::batch::{self, Transform};
use crate::detect::StateError as EngineStateError;
use crate::error::{self, ConfigErrorKind, RecordErrorKind};
use crate::redact::pseudonym::HmacKey;

wit_bindgen::generate!({
    world: "transform",
    path: "../wit",
});

use claude_audit::transform::types as wit;

thread_local! {
    /// The configured transform; `None` until `configure` succeeds.
    static TRANSFORM: RefCell<Option<Transform>> = const { RefCell::new(None) };
}

struct Component;

impl Guest for Component {
    fn abi_version() -> u32 {
        crate::ABI_VERSION
    }

    fn schema_version() -> String {
        crate::SCHEMA_VERSION.to_owned()
    }

    fn configure(config: wit::Config) -> Result<(), wit::ConfigError> {
        let mut keys = Vec::with_capacity(config.hmac_keys.len());
        for key in config.hmac_keys {
            let id = key.id.clone();
            keys.push(
                HmacKey::new(key.id, key.secret).ok_or_else(|| wit::ConfigError {
                    kind: wit::ConfigErrorKind::MissingKey,
                    path: format!("keys.{id}"),
                    message: "an HMAC key needs an id without `:` and at least 32 bytes".to_owned(),
                })?,
            );
        }
        let transform = Transform::with_geoip(
            &config.settings_json,
            keys,
            config.active_key_id.as_deref(),
            config.geoip_databases,
        )
        .map_err(config_error)?;
        TRANSFORM.with(|slot| *slot.borrow_mut() = Some(transform));
        Ok(())
    }

    fn export_state() -> Vec<u8> {
        TRANSFORM.with(|slot| {
            slot.borrow()
                .as_ref()
                .and_then(Transform::export_state)
                .unwrap_or_default()
        })
    }

    fn import_state(state: Vec<u8>) -> Result<(), wit::StateError> {
        TRANSFORM.with(|slot| {
            let slot = slot.borrow();
            let transform = slot.as_ref().ok_or_else(|| wit::StateError {
                kind: wit::StateErrorKind::NotEnabled,
                message: "import-state before configure".to_owned(),
            })?;
            transform.import_state(&state).map_err(|e| wit::StateError {
                kind: match e {
                    EngineStateError::Invalid(_) => wit::StateErrorKind::Invalid,
                    EngineStateError::UnsupportedVersion { .. } => {
                        wit::StateErrorKind::UnsupportedVersion
                    }
                    EngineStateError::NotEnabled => wit::StateErrorKind::NotEnabled,
                },
                message: e.to_string(),
            })
        })
    }

    fn process_batch(records: Vec<u8>) -> Result<wit::BatchOutput, wit::BatchError> {
        TRANSFORM.with(|slot| {
            let slot = slot.borrow();
            let transform = slot.as_ref().ok_or(wit::BatchError::NotConfigured)?;
            Ok(batch_output(transform.process_batch(&records)))
        })
    }
}

fn config_error(e: error::ConfigError) -> wit::ConfigError {
    wit::ConfigError {
        kind: match e.kind {
            ConfigErrorKind::InvalidSyntax => wit::ConfigErrorKind::InvalidSyntax,
            ConfigErrorKind::UnknownField => wit::ConfigErrorKind::UnknownField,
            ConfigErrorKind::InvalidValue => wit::ConfigErrorKind::InvalidValue,
            ConfigErrorKind::MissingKey => wit::ConfigErrorKind::MissingKey,
        },
        path: e.path,
        message: e.message,
    }
}

fn record_error_kind(kind: RecordErrorKind) -> wit::RecordErrorKind {
    use wit::RecordErrorKind as W;
    match kind {
        RecordErrorKind::BlankLine => W::BlankLine,
        RecordErrorKind::ByteOrderMark => W::ByteOrderMark,
        RecordErrorKind::InvalidUtf8 => W::InvalidUtf8,
        RecordErrorKind::InvalidJson => W::InvalidJson,
        RecordErrorKind::NotAnObject => W::NotAnObject,
        RecordErrorKind::DuplicateField => W::DuplicateField,
        RecordErrorKind::MissingField => W::MissingField,
        RecordErrorKind::WrongType => W::WrongType,
        RecordErrorKind::InvalidValue => W::InvalidValue,
        RecordErrorKind::TooLong => W::TooLong,
    }
}

fn batch_output(out: batch::BatchOutput) -> wit::BatchOutput {
    let c = out.counters;
    wit::BatchOutput {
        records: out.records,
        dead_letters: out
            .dead_letters
            .into_iter()
            .map(|d| wit::DeadLetter {
                index: d.index,
                error: wit::RecordError {
                    kind: record_error_kind(d.error.kind),
                    field: d.error.field.into_owned(),
                    detail: d.error.detail.into_owned(),
                },
            })
            .collect(),
        counters: wit::Counters {
            records: c.records,
            emitted: c.emitted,
            dead_lettered: c.dead_lettered,
            filtered: c.filtered,
            unmapped_event_types: c.unmapped_event_types,
            unmapped_actor_types: c.unmapped_actor_types,
            unmapped_fields: c.unmapped_fields,
            alerts: c.alerts,
            alerts_suppressed: c.alerts_suppressed,
        },
        vault_entries: out
            .vault
            .into_iter()
            .map(|v| wit::VaultEntry {
                pseudonym: v.pseudonym,
                original: v.original,
                entity: v.entity,
            })
            .collect(),
        alerts: out.alerts,
    }
}

export!(Component);
