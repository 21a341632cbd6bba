//! The feed's `actor` union (SPEC section 4) -> the canonical `actor` object.
//!
//! Which field of a variant is its id or email comes from
//! `data/actor-variants.tsv`. Unknown variants are kept, never dropped: they
//! get kind `unknown` and a best-effort reading of the usual field names.

use std::borrow::Cow;

use serde_json::value::RawValue;

use crate::error::RecordError;
use crate::json::{self, JsonStr, RawObject};
use crate::json_writer::JsonWriter;
use crate::normalize::Scrubber;
use crate::tables::tables;

/// Field names shared by most variants.
const IP_FIELD: &str = "ip_address";
const USER_AGENT_FIELD: &str = "user_agent";
const TYPE_FIELD: &str = "type";
/// Best-effort names tried on an unknown variant.
const FALLBACK_ID_FIELD: &str = "user_id";
const FALLBACK_EMAIL_FIELD: &str = "email_address";

/// An actor split into its canonical parts, before serialization.
#[derive(Debug)]
pub struct ParsedActor<'a> {
    /// `actor.type`.
    pub variant: JsonStr<'a>,
    /// Canonical kind.
    pub kind: &'static str,
    /// Canonical id.
    pub id: Option<JsonStr<'a>>,
    /// Canonical email.
    pub email: Option<JsonStr<'a>>,
    /// Client IP.
    pub ip: Option<JsonStr<'a>>,
    /// Client user agent.
    pub user_agent: Option<JsonStr<'a>>,
    /// Documented fields not mapped above.
    pub attributes: Vec<(Cow<'a, str>, &'a RawValue)>,
    /// Undocumented fields (to go under `unmapped.fields` as `actor.<name>`).
    pub unmapped: Vec<(Cow<'a, str>, &'a RawValue)>,
    /// Whether the variant itself is unknown.
    pub unknown_variant: bool,
}

impl<'a> ParsedActor<'a> {
    /// Parse and validate the raw `actor` value.
    pub fn parse(raw: &'a RawValue) -> Result<Self, RecordError> {
        let object = RawObject::parse(raw.get(), "actor")?;
        let variant = json::optional_str(object.get(TYPE_FIELD), "actor.type")?
            .filter(|v| !v.is_empty())
            .ok_or_else(|| RecordError::missing("actor.type"))?;
        let known = tables().actor_variants.get(variant.as_str());
        let (kind, id_field, email_field) = match known {
            Some(v) => (v.kind, v.id_field, v.email_field),
            None => (
                "unknown",
                Some(FALLBACK_ID_FIELD),
                Some(FALLBACK_EMAIL_FIELD),
            ),
        };
        let mut actor = ParsedActor {
            variant,
            kind,
            id: None,
            email: None,
            ip: None,
            user_agent: None,
            attributes: Vec::new(),
            unmapped: Vec::new(),
            unknown_variant: known.is_none(),
        };
        for (key, value) in object.members {
            let slot = match key.as_ref() {
                TYPE_FIELD => continue,
                k if Some(k) == id_field => Some(&mut actor.id),
                k if Some(k) == email_field => Some(&mut actor.email),
                IP_FIELD => Some(&mut actor.ip),
                USER_AGENT_FIELD => Some(&mut actor.user_agent),
                _ => None,
            };
            match slot {
                Some(slot) => {
                    // The path is formatted only on error: this runs for
                    // every actor field of every record.
                    *slot = json::str_or_null(value).ok_or_else(|| {
                        RecordError::wrong_type(format!("actor.{key}"), "a string or null")
                    })?;
                }
                None if known.is_none_or(|v| v.fields.contains(key.as_ref())) => {
                    actor.attributes.push((key, value));
                }
                None => actor
                    .unmapped
                    .push((Cow::Owned(format!("actor.{key}")), value)),
            }
        }
        Ok(actor)
    }

    /// Write the canonical `actor` object, its values through `scrub`; with
    /// `geoip`, also `actor.geo`, looked up from the IP before it is redacted.
    pub(crate) fn write(
        &self,
        w: &mut JsonWriter<'_>,
        scrub: &mut Scrubber<'_>,
        geoip: Option<&crate::enrich::GeoIp>,
    ) {
        w.object("actor")
            .json_str("type", &self.variant)
            .str("kind", self.kind);
        scrub.str_field(w, "id", &["actor", "id"], self.id.as_ref());
        scrub.str_field(w, "email", &["actor", "email"], self.email.as_ref());
        scrub.str_field(w, "ip", &["actor", "ip"], self.ip.as_ref());
        if let Some(geoip) = geoip {
            geoip.write(w, self.ip.as_ref().map(JsonStr::as_str));
        }
        scrub.str_field(
            w,
            "user_agent",
            &["actor", "user_agent"],
            self.user_agent.as_ref(),
        );
        scrub.members(w, "attributes", &["actor", "attributes"], &self.attributes);
        w.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::RecordErrorKind;

    fn parse(text: &str) -> Result<ParsedActor<'_>, RecordError> {
        let raw: &RawValue = serde_json::from_str(text).unwrap();
        ParsedActor::parse(raw)
    }

    #[test]
    fn user_actor_maps_id_email_ip_and_agent() {
        let a = parse(r#"{"type":"user_actor","email_address":"a@example.com","user_id":"user_1","ip_address":"192.0.2.1","user_agent":"ua"}"#).unwrap();
        assert_eq!(a.kind, "user");
        assert_eq!(a.id.as_deref(), Some("user_1"));
        assert_eq!(a.email.as_deref(), Some("a@example.com"));
        assert_eq!(a.ip.as_deref(), Some("192.0.2.1"));
        assert!(a.attributes.is_empty() && a.unmapped.is_empty());
    }

    #[test]
    fn undocumented_fields_are_kept_as_unmapped() {
        let a = parse(r#"{"type":"system_actor","service":"memory","new_thing":1}"#).unwrap();
        assert_eq!(a.id.as_deref(), Some("memory"));
        assert_eq!(a.unmapped[0].0, "actor.new_thing");
    }

    #[test]
    fn unknown_variant_is_kept_with_best_effort_fields() {
        let a = parse(r#"{"type":"robot_actor","user_id":"user_9","serial":"x"}"#).unwrap();
        assert!(a.unknown_variant);
        assert_eq!(a.kind, "unknown");
        assert_eq!(a.id.as_deref(), Some("user_9"));
        assert_eq!(a.attributes[0].0, "serial");
    }

    #[test]
    fn bad_actor_shapes_are_typed_errors() {
        assert_eq!(
            parse(r#"{"user_id":"u"}"#).unwrap_err().kind,
            RecordErrorKind::MissingField
        );
        assert_eq!(
            parse(r#"{"type":7}"#).unwrap_err().kind,
            RecordErrorKind::WrongType
        );
        let e = parse(r#"{"type":"user_actor","email_address":["x"]}"#).unwrap_err();
        assert_eq!(e.kind, RecordErrorKind::WrongType);
        assert_eq!(e.field, "actor.email_address");
        assert_eq!(
            parse(r#""user""#).unwrap_err().kind,
            RecordErrorKind::WrongType
        );
    }
}
