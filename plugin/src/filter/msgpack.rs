//! The filter in Fluent Bit's `event_format: msgpack` (export
//! `claude_audit_filter_msgpack`, see `abi/fluentbit.rs`).
//!
//! **In**: the record is one msgpack map (Fluent Bit's own encoding of the
//! record body, `flb_wasm_format_msgpack_mode`). It is transcoded in one pass
//! (serde-transcode from rmp-serde's deserializer into serde_json's
//! serializer) into compact JSON text, keys in their order, and handed to the
//! same [`Filter::process`] as the JSON mode: the filter's logic (and
//! `claude-audit run`'s) reads JSON text and has no entry point for a decoded
//! value, and the transcode is linear and small next to normalization.
//!
//! **Out**: Fluent Bit 5.1.1 copies the answer with `strdup`
//! (`src/wasm/flb_wasm.c`) and appends it to the chunk as raw msgpack without
//! checking it (`plugins/filter_wasm/filter_wasm.c`,
//! `flb_log_event_encoder_set_body_from_raw_msgpack`). So the answer ends at
//! its first 0x00 byte, and a value cut there corrupts the chunk. msgpack
//! cannot write an event without zero bytes: a map of 16 to 255 entries (an
//! event has about 25 top-level keys) has the header `de 00 nn`, and the
//! integer 0 is a `00` byte in every width. The answer is therefore the
//! one-entry map `{"claude_audit_json": "<the JSON answer>"}`, written so
//! that it has no zero byte (fixmap, fixstr key, a str8 or str16 header, and
//! one JSON space appended when the str16 length's low byte would be zero).
//! A Fluent Bit `parser` filter (`key_name: claude_audit_json`, `parser:
//! json`) right after the `wasm` filter turns it into the record the JSON
//! mode gives. A JSON answer over [`MAX_ANSWER_BYTES`] has no zero-free
//! header (str32 begins `db 00`): it is replaced by a dead-letter marker of
//! kind [`KIND_ANSWER_TOO_LONG`].

use std::io::Cursor;

use super::{Answer, Filter, KIND_INTERNAL_ERROR, Marker, activity_id, dead_letter};

/// The one key of a msgpack-mode answer; its value is the answer as JSON
/// text (an event, a `claude_audit_filtered` or a
/// `claude_audit_dead_letter` marker).
pub const JSON_KEY: &str = "claude_audit_json";

/// Dead-letter kind: the record is not one msgpack value (Fluent Bit always
/// passes one map; this catches a `json`-mode filter naming the msgpack
/// export).
pub const KIND_INVALID_MSGPACK: &str = "invalid_msgpack";

/// Dead-letter kind: the answer is longer than [`MAX_ANSWER_BYTES`], which
/// msgpack mode cannot carry (use `event_format: json` for such records).
pub const KIND_ANSWER_TOO_LONG: &str = "msgpack_answer_too_long";

/// Longest JSON answer with a zero-free msgpack string header (str16).
pub const MAX_ANSWER_BYTES: usize = 0xffff;

/// Deepest nesting transcoded: serde_json's own recursion limit, which
/// `claude-audit run` applies to the same record as JSON text.
const MAX_DEPTH: usize = 128;

/// The buffers of one msgpack-mode call, kept across calls by the caller so
/// that a call allocates nothing once warm.
#[derive(Debug, Default)]
pub struct Buffers {
    /// The record as JSON text.
    record: Vec<u8>,
    /// The answer as JSON text.
    answer: Vec<u8>,
}

impl Buffers {
    /// Empty buffers (usable in a `static`).
    pub const fn new() -> Self {
        Self {
            record: Vec::new(),
            answer: Vec::new(),
        }
    }

    /// Shrink buffers above `keep` bytes back to `keep / 2`, so that one huge
    /// record does not pin its memory for the life of the filter.
    pub fn shrink(&mut self, keep: usize) {
        for buf in [&mut self.record, &mut self.answer] {
            if buf.capacity() > keep {
                buf.clear();
                buf.shrink_to(keep / 2);
            }
        }
    }
}

impl Filter {
    /// Answer one msgpack record: clear `out` and write the msgpack answer
    /// (without a trailing NUL, and with no zero byte anywhere) into it.
    /// `None` means Fluent Bit passed no usable bytes for a record of
    /// `claimed_len` bytes.
    pub fn process_msgpack(
        &self,
        record: Option<&[u8]>,
        claimed_len: usize,
        buffers: &mut Buffers,
        out: &mut Vec<u8>,
    ) -> Answer {
        let Buffers {
            record: json,
            answer: text,
        } = buffers;
        // `length`: the record's length as JSON (the length `run` would
        // see), or as passed when it is not msgpack.
        let (mut answer, length) = match record {
            None => {
                json.clear();
                (self.process(None, claimed_len, text), claimed_len)
            }
            Some(bytes) => match to_json(bytes, json) {
                Ok(()) => (self.process(Some(json), json.len(), text), json.len()),
                Err(reason) => {
                    json.clear();
                    let marker = Marker {
                        kind: KIND_INVALID_MSGPACK,
                        field: "",
                        reason,
                        length: bytes.len(),
                        activity_id: None,
                    };
                    (dead_letter(text, &marker), bytes.len())
                }
            },
        };
        if text.len() > MAX_ANSWER_BYTES {
            let reason = format!(
                "the answer is {} bytes of JSON; Fluent Bit's msgpack mode cannot carry more than \
                 {MAX_ANSWER_BYTES} (it ends the answer at its first zero byte): use \
                 `event_format: json` for records this large",
                text.len()
            );
            answer = dead_letter(
                text,
                &Marker {
                    kind: KIND_ANSWER_TOO_LONG,
                    field: "",
                    reason: &reason,
                    length,
                    activity_id: activity_id(json).as_deref(),
                },
            );
        }
        if memchr::memchr(0, text).is_some() {
            // JSON escaping makes this impossible; the check stays as a guard.
            answer = dead_letter(
                text,
                &Marker {
                    kind: KIND_INTERNAL_ERROR,
                    field: "",
                    reason: "the answer held a NUL byte, which Fluent Bit's result cannot carry",
                    length,
                    activity_id: None,
                },
            );
        }
        wrap(text, out);
        answer
    }
}

/// Transcode one msgpack value (Fluent Bit passes a map; another value is
/// left to the filter, which says `not_an_object` as `claude-audit run`
/// does) into compact JSON text in `json` (cleared first). The error is a
/// fixed reason that quotes nothing of the record.
pub fn to_json(record: &[u8], json: &mut Vec<u8>) -> Result<(), &'static str> {
    json.clear();
    let mut de = rmp_serde::Deserializer::new(Cursor::new(record));
    de.set_max_depth(MAX_DEPTH);
    let mut ser = serde_json::Serializer::new(&mut *json);
    if serde_transcode::transcode(&mut de, &mut ser).is_err() {
        return Err(
            "the record is not one msgpack value with string keys (empty, truncated, invalid, \
             or nested too deeply)",
        );
    }
    if de.position() != record.len() as u64 {
        return Err("the record has bytes after its msgpack value");
    }
    Ok(())
}

/// Write `{JSON_KEY: json}` as msgpack with no zero byte (see the module
/// documentation). `json` must hold at most [`MAX_ANSWER_BYTES`] bytes and
/// no zero byte.
fn wrap(json: &[u8], out: &mut Vec<u8>) {
    debug_assert!(json.len() <= MAX_ANSWER_BYTES && !json.contains(&0));
    out.clear();
    out.reserve(json.len() + JSON_KEY.len() + 6);
    out.push(0x81); // fixmap, one entry
    out.push(0xa0 | JSON_KEY.len() as u8); // fixstr
    out.extend_from_slice(JSON_KEY.as_bytes());
    // A str16 length whose low byte is zero gets one more byte: a space,
    // which JSON ignores after the value.
    let pad = json.len() > 0xff && json.len().is_multiple_of(0x100);
    let len = json.len() + usize::from(pad);
    match len {
        0..=31 => out.push(0xa0 | len as u8),
        32..=0xff => out.extend_from_slice(&[0xd9, len as u8]),
        _ => out.extend_from_slice(&[0xda, (len >> 8) as u8, len as u8]),
    }
    out.extend_from_slice(json);
    if pad {
        out.push(b' ');
    }
    debug_assert!(!out.contains(&0), "a zero byte would cut the answer");
}

#[cfg(test)]
mod tests;
