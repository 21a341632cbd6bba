//! Typed errors of the plugin: why a record was dead-lettered, and why a
//! configuration was refused. Both are mirrored one-to-one by WIT types in
//! `wit/transform.wit`.
//!
//! Messages never contain record values (our rule, not serde's): error text
//! ends up in logs and dead-letter reasons, and records carry PII. They name
//! the field path and the rule instead.

use std::borrow::Cow;

/// What kind of problem made a record unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordErrorKind {
    /// The line is empty or holds only white space.
    BlankLine,
    /// The line starts with a UTF-8 byte order mark.
    ByteOrderMark,
    /// The bytes are not valid UTF-8.
    InvalidUtf8,
    /// The text is not valid JSON.
    InvalidJson,
    /// Valid JSON, but not an object.
    NotAnObject,
    /// A key appears twice in one object.
    DuplicateField,
    /// A required field is absent or null.
    MissingField,
    /// A field has a JSON type the schema does not allow.
    WrongType,
    /// A field has the right type but an unusable value.
    InvalidValue,
    /// The record exceeds the configured size limit (reported by the host).
    TooLong,
}

impl RecordErrorKind {
    /// The stable snake_case name used in dead-letter records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BlankLine => "blank_line",
            Self::ByteOrderMark => "byte_order_mark",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::InvalidJson => "invalid_json",
            Self::NotAnObject => "not_an_object",
            Self::DuplicateField => "duplicate_field",
            Self::MissingField => "missing_field",
            Self::WrongType => "wrong_type",
            Self::InvalidValue => "invalid_value",
            Self::TooLong => "too_long",
        }
    }
}

/// Why one record could not become an audit event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {detail}", kind.as_str())]
pub struct RecordError {
    /// The class of problem.
    pub kind: RecordErrorKind,
    /// Dotted path of the field concerned (`actor.type`), empty if none.
    pub field: Cow<'static, str>,
    /// Explanation without record content.
    pub detail: Cow<'static, str>,
}

impl RecordError {
    /// An error about the record as a whole.
    pub fn record(kind: RecordErrorKind, detail: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            field: Cow::Borrowed(""),
            detail: detail.into(),
        }
    }

    /// An error about one field.
    pub fn field(
        kind: RecordErrorKind,
        field: impl Into<Cow<'static, str>>,
        detail: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            kind,
            field: field.into(),
            detail: detail.into(),
        }
    }

    /// A required field that is absent or null.
    pub fn missing(field: &'static str) -> Self {
        Self::field(
            RecordErrorKind::MissingField,
            field,
            format!("required field `{field}` is missing or null"),
        )
    }

    /// A field of the wrong JSON type.
    pub fn wrong_type(field: impl Into<Cow<'static, str>>, expected: &'static str) -> Self {
        let field = field.into();
        let detail = format!("field `{field}` must be {expected}");
        Self::field(RecordErrorKind::WrongType, field, detail)
    }
}

/// What kind of problem made `configure` refuse the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The settings are not valid JSON.
    InvalidSyntax,
    /// An unknown key.
    UnknownField,
    /// A known key with a bad value.
    InvalidValue,
    /// Redaction is on but no usable HMAC key was provided.
    MissingKey,
}

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
pub struct ConfigError {
    /// The class of problem.
    pub kind: ConfigErrorKind,
    /// Dotted path of the offending setting; empty for the whole document.
    pub path: String,
    /// What is wrong and what to do about it.
    pub message: String,
}
