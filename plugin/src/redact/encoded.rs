//! Values hidden by an encoding: percent-encoding (URLs, query strings,
//! `mailto:`), JSON `\uXXXX` escapes left in text (a JSON document pasted
//! into a string), and base64 (Kubernetes secrets, Docker `auth`, data URIs).
//!
//! The detectors only see plain text, so each encoded token is decoded, the
//! decoded text scanned by the caller, and, when the scan changed something,
//! the redacted text encoded again the same way, so that the surrounding
//! structure (a URL, a base64 field) stays well-formed and readable.

use data_encoding::{BASE64, BASE64_NOPAD, BASE64URL, BASE64URL_NOPAD, Encoding};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// A scan of plain text: `Some(redacted)` when it replaced anything.
pub type Scan<'s> = dyn FnMut(&str) -> Option<String> + 's;

/// Shortest base64 run worth decoding: 15 bytes of payload, enough for any
/// credential or address worth hiding, long enough that ordinary words and
/// short ids are not decoded for nothing.
const MIN_BASE64_RUN: usize = 20;

/// Characters left as they are when a redacted piece of a URL is encoded
/// again: RFC 3986 unreserved characters.
const PIECE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Whether `text` may hold an encoded value: a `%XX` escape, a `\u` escape,
/// or a base64-looking run. Runs on every scanned string, so it is kept to
/// a table lookup per byte (the run counter) and a `memchr` for the two
/// escape bytes; a byte-by-byte test of each condition was ~7 % of a run.
pub fn may_hide(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut run = 0usize;
    for &b in bytes {
        run = if BASE64_BYTE[usize::from(b)] {
            run + 1
        } else {
            0
        };
        if run >= MIN_BASE64_RUN {
            return true;
        }
    }
    memchr::memchr2_iter(b'%', b'\\', bytes).any(|i| {
        if bytes[i] == b'%' {
            is_hex_pair(bytes, i + 1)
        } else {
            bytes.get(i + 1) == Some(&b'u')
        }
    })
}

/// [`is_base64_byte`] as a table, for [`may_hide`].
static BASE64_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = is_base64_byte(b as u8);
        b += 1;
    }
    table
};

/// Decode, scan and re-encode every encoded token of `text`; `Some(new)` if
/// anything was replaced.
pub fn rewrite(text: &str, scan: &mut Scan<'_>) -> Option<String> {
    let after_escapes = unicode_escapes(text, scan);
    let current = after_escapes.as_deref().unwrap_or(text);
    let after_percent = percent(current, scan);
    let current = after_percent.as_deref().unwrap_or(current);
    base64(current, scan).or(after_percent).or(after_escapes)
}

fn is_hex_pair(bytes: &[u8], at: usize) -> bool {
    bytes.get(at).is_some_and(u8::is_ascii_hexdigit)
        && bytes.get(at + 1).is_some_and(u8::is_ascii_hexdigit)
}

const fn is_base64_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_')
}

/// `\uXXXX` escapes (with surrogate pairs) decoded over the whole text: the
/// redacted result is written decoded, which is still valid text.
fn unicode_escapes(text: &str, scan: &mut Scan<'_>) -> Option<String> {
    if !text.contains("\\u") {
        return None;
    }
    let decoded = decode_unicode_escapes(text)?;
    scan(&decoded)
}

/// `text` with its `\uXXXX` escapes decoded; `None` if it has none that
/// decode (lone surrogates stay as written).
fn decode_unicode_escapes(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut any = false;
    while let Some(at) = rest.find("\\u") {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        match escaped_char(tail) {
            Some((c, used)) => {
                out.push(c);
                rest = &tail[used..];
                any = true;
            }
            None => {
                out.push_str("\\u");
                rest = &tail[2..];
            }
        }
    }
    out.push_str(rest);
    any.then_some(out)
}

/// The character of the escape at the start of `tail` and its length.
fn escaped_char(tail: &str) -> Option<(char, usize)> {
    let unit = |s: &str| -> Option<u32> {
        let hex = s.strip_prefix("\\u")?.get(..4)?;
        u32::from_str_radix(hex, 16).ok()
    };
    let first = unit(tail)?;
    if (0xD800..0xDC00).contains(&first) {
        let second = unit(tail.get(6..)?)?;
        if !(0xDC00..0xE000).contains(&second) {
            return None;
        }
        let c = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
        return char::from_u32(c).map(|c| (c, 12));
    }
    char::from_u32(first).map(|c| (c, 6))
}

/// Percent-encoded pieces: every run of non-space characters is split at the
/// URL's structural delimiters, and each piece holding a `%XX` escape is
/// decoded, scanned and, if changed, encoded again. Unchanged pieces stay
/// byte for byte.
fn percent(text: &str, scan: &mut Scan<'_>) -> Option<String> {
    if !text.contains('%') {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    for piece in text.split_inclusive(is_url_delimiter) {
        let (body, delimiter) = match piece.char_indices().last() {
            Some((at, c)) if is_url_delimiter(c) => piece.split_at(at),
            _ => (piece, ""),
        };
        match decode_percent(body).and_then(|plain| scan(&plain)) {
            Some(new) => {
                out.extend(utf8_percent_encode(&new, PIECE));
                changed = true;
            }
            None => out.push_str(body),
        }
        out.push_str(delimiter);
    }
    changed.then_some(out)
}

fn is_url_delimiter(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '&' | '=' | '?' | '/' | '#' | ';' | '"' | '\'' | '<' | '>'
        )
}

/// The decoded text of a piece that has at least one valid `%XX` escape
/// and decodes to UTF-8.
fn decode_percent(piece: &str) -> Option<String> {
    let bytes = piece.as_bytes();
    let escaped = (0..bytes.len()).any(|i| bytes[i] == b'%' && is_hex_pair(bytes, i + 1));
    if !escaped {
        return None;
    }
    percent_decode_str(piece)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// Base64 runs that decode (standard or URL-safe alphabet, padded or not)
/// to printable UTF-8 text: scanned and, if changed, encoded again with the
/// same alphabet.
fn base64(text: &str, scan: &mut Scan<'_>) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut last = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !is_base64_byte(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_base64_byte(bytes[i]) {
            i += 1;
        }
        while i < bytes.len() && bytes[i] == b'=' {
            i += 1;
        }
        if i - start < MIN_BASE64_RUN {
            continue;
        }
        let run = &text[start..i];
        if let Some((encoding, plain)) = decode_base64(run)
            && let Some(new) = scan(&plain)
        {
            out.push_str(&text[last..start]);
            out.push_str(&encoding.encode(new.as_bytes()));
            last = i;
        }
    }
    (last > 0).then(|| {
        out.push_str(&text[last..]);
        out
    })
}

/// The encoding that decodes `run` to printable text, and that text.
fn decode_base64(run: &str) -> Option<(Encoding, String)> {
    let url_safe = run.contains(['-', '_']);
    let padded = run.ends_with('=');
    let encoding = match (url_safe, padded) {
        (false, true) => BASE64,
        (false, false) => BASE64_NOPAD,
        (true, true) => BASE64URL,
        (true, false) => BASE64URL_NOPAD,
    };
    if !printable_start(url_safe, run) {
        return None;
    }
    let decoded = encoding.decode(run.as_bytes()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let printable = text
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'));
    printable.then_some((encoding, text))
}

/// Whether the first 12 bytes `run` decodes to could start printable text.
/// Most runs are ids and hashes that decode to binary: this rejects them
/// without decoding (and allocating for) the whole run, and never rejects a
/// run that the full check accepts: a bad character or a control byte in
/// the first whole quanta is one in the whole decoded text, and a byte that
/// can start no UTF-8 sequence fails the whole text's UTF-8 check.
fn printable_start(url_safe: bool, run: &str) -> bool {
    const HEAD: usize = 16; // characters: 12 bytes, four whole quanta
    let head = match run.as_bytes().get(..HEAD) {
        Some(head) if !head.contains(&b'=') => head,
        _ => return true, // padding this early: left to the full decode
    };
    let mut buf = [0u8; HEAD / 4 * 3];
    let alphabet = if url_safe {
        BASE64URL_NOPAD
    } else {
        BASE64_NOPAD
    };
    if alphabet.decode_mut(head, &mut buf).is_err() {
        return false;
    }
    let utf8_ok = match std::str::from_utf8(&buf) {
        Ok(_) => true,
        // Cut inside a character at the end of the 12 bytes: fine so far.
        Err(e) => e.error_len().is_none(),
    };
    utf8_ok
        && buf
            .iter()
            .all(|&b| b >= 0x20 && b != 0x7f || matches!(b, b'\n' | b'\r' | b'\t'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upper(s: &str) -> Option<String> {
        s.contains("secret").then(|| s.replace("secret", "[X]"))
    }

    #[test]
    fn percent_pieces_are_decoded_scanned_and_encoded_again() {
        let text = "https://h.example/p?a=1&who=my%20secret%40x&b=%41";
        let out = rewrite(text, &mut upper).unwrap();
        assert_eq!(out, "https://h.example/p?a=1&who=my%20%5BX%5D%40x&b=%41");
        assert!(rewrite("100% sure", &mut upper).is_none());
    }

    #[test]
    fn unicode_escapes_are_decoded() {
        let out = rewrite(r"{\u0022k\u0022: \u0073ecret}", &mut upper).unwrap();
        assert_eq!(out, "{\"k\": [X]}");
        assert!(rewrite(r"\ud800 alone", &mut upper).is_none());
    }

    #[test]
    fn base64_runs_are_decoded_and_encoded_again() {
        let blob = BASE64.encode(b"user:secret-password");
        let out = rewrite(&format!("auth {blob} end"), &mut upper).unwrap();
        let back = out.split(' ').nth(1).unwrap();
        assert_eq!(
            BASE64.decode(back.as_bytes()).unwrap(),
            b"user:[X]-password"
        );
        // Binary payloads (hashes, ids) are left alone.
        assert!(rewrite("claude_file_01KRXM09600GAQ0MN93HM052HY", &mut upper).is_none());
    }

    #[test]
    fn the_quick_rejection_keeps_every_printable_run() {
        let texts = [
            "user:secret-password",
            "ключ: значение и ещё немного текста",
            "a\tb\nc\rd plus some more printable text",
            "émoji 🎉 after twelve bytes exactly",
        ];
        for text in texts {
            for encoding in [BASE64, BASE64_NOPAD, BASE64URL, BASE64URL_NOPAD] {
                let run = encoding.encode(text.as_bytes());
                assert!(decode_base64(&run).is_some(), "{text}");
            }
        }
        // Binary: rejected from its first quanta.
        assert!(!printable_start(false, "AAECAwQFBgcICQoLDA0ODxAREhM"));
        assert!(decode_base64("AAECAwQFBgcICQoLDA0ODxAREhM").is_none());
    }

    /// The byte-by-byte definition [`may_hide`] must agree with.
    fn may_hide_reference(text: &str) -> bool {
        let bytes = text.as_bytes();
        let mut run = 0usize;
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'%' && is_hex_pair(bytes, i + 1)
                || b == b'\\' && bytes.get(i + 1) == Some(&b'u')
            {
                return true;
            }
            run = if is_base64_byte(b) { run + 1 } else { 0 };
            if run >= MIN_BASE64_RUN {
                return true;
            }
        }
        false
    }

    #[test]
    fn may_hide_agrees_with_its_definition() {
        let corpus = include_str!("../../../tests/redaction-eval/corpus.jsonl");
        let mut texts: Vec<&str> = vec![
            "",
            "%",
            "%4",
            "%4g",
            "50%",
            "\\",
            "\\u",
            "x\\",
            "a%41",
            "\\u00",
            "aaaaaaaaaaaaaaaaaaa",
            "aaaaaaaaaaaaaaaaaaaa",
            "aaaaaaaaa.aaaaaaaaaaa",
            "é%C3%A9",
            "ключ значение",
            "activity_01KRXJMENY0AP324T5EV86A0GC",
        ];
        texts.extend(corpus.lines());
        for text in texts {
            assert_eq!(may_hide(text), may_hide_reference(text), "{text:?}");
        }
    }

    #[test]
    fn may_hide_spots_every_encoding() {
        assert!(may_hide("a%40b"));
        assert!(may_hide(r"a\u0040b"));
        assert!(may_hide("dXNlcjpzZWNyZXQtcGFzc3dvcmQ="));
        assert!(!may_hide("plain text, 100 %, ids abc_123"));
    }
}
