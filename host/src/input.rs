//! Reading NDJSON input line by line with a hard length limit.
//!
//! A line longer than the limit is never held in memory whole: its first
//! `max` bytes are kept (for the dead-letter record) and the rest is skipped
//! up to the next newline. That is what keeps `run` in bounded memory on any
//! input, including a file with no newline at all.

use std::io::{self, BufRead};

/// One line of input, without its `\n` (the tests' view of
/// [`LineReader::append_line`]).
#[cfg(test)]
#[derive(Debug)]
pub enum Line {
    /// A line within the limit.
    Complete(Vec<u8>),
    /// A line over the limit: its first bytes and its full length.
    TooLong {
        /// The first `max` bytes of the line.
        prefix: Vec<u8>,
        /// The full length of the line in bytes.
        length: u64,
    },
}

/// Reads lines of at most `max` bytes from a buffered reader.
pub struct LineReader<R> {
    inner: R,
    max: usize,
    /// Bytes consumed so far, for progress reporting.
    pub bytes_read: u64,
}

impl<R: BufRead> LineReader<R> {
    /// Wrap `inner`; lines longer than `max` bytes come back as [`Line::TooLong`].
    pub fn new(inner: R, max: usize) -> Self {
        Self {
            inner,
            max,
            bytes_read: 0,
        }
    }

    /// The next line, or `None` at end of input. A last line without a
    /// trailing newline is still a line.
    #[cfg(test)]
    pub fn next_line(&mut self) -> io::Result<Option<Line>> {
        let mut kept = Vec::new();
        Ok(self.append_line(&mut kept)?.map(|appended| match appended {
            Appended::Complete => Line::Complete(kept),
            Appended::TooLong { prefix, length } => Line::TooLong { prefix, length },
        }))
    }

    /// Append the next line (without its `\n`) to `out`, or return `None`
    /// at end of input. The line is copied once, from the reader's buffer
    /// straight into `out` (a batch being filled), with no allocation of its
    /// own. A line over the limit leaves `out` as it was and comes back as
    /// [`Appended::TooLong`].
    pub fn append_line(&mut self, out: &mut Vec<u8>) -> io::Result<Option<Appended>> {
        let start = out.len();
        let mut length: u64 = 0;
        let mut saw_any = false;
        loop {
            let chunk = match self.inner.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                break;
            }
            saw_any = true;
            let newline = memchr::memchr(b'\n', chunk);
            let take = newline.unwrap_or(chunk.len());
            // Keep one byte past the limit at most: enough to know the line
            // is too long, never the whole of an endless line.
            let room = (self.max + 1).saturating_sub(out.len() - start);
            out.extend_from_slice(&chunk[..take.min(room)]);
            length += take as u64;
            let consumed = newline.map_or(take, |n| n + 1);
            self.inner.consume(consumed);
            self.bytes_read += consumed as u64;
            if newline.is_some() {
                break;
            }
        }
        if !saw_any {
            return Ok(None);
        }
        if length > self.max as u64 {
            let prefix = out[start..start + self.max].to_vec();
            out.truncate(start);
            return Ok(Some(Appended::TooLong { prefix, length }));
        }
        Ok(Some(Appended::Complete))
    }
}

/// What [`LineReader::append_line`] did.
#[derive(Debug)]
pub enum Appended {
    /// The whole line was appended.
    Complete,
    /// The line is over the limit; nothing was appended.
    TooLong {
        /// The first `max` bytes of the line.
        prefix: Vec<u8>,
        /// The full length of the line in bytes.
        length: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(input: &[u8], max: usize) -> Vec<Line> {
        let mut reader = LineReader::new(io::BufReader::with_capacity(4, input), max);
        std::iter::from_fn(|| reader.next_line().unwrap()).collect()
    }

    #[test]
    fn splits_lines_across_buffer_refills() {
        let lines = read_all(b"abcdef\n\nxy", 10);
        let texts: Vec<&[u8]> = lines
            .iter()
            .map(|l| match l {
                Line::Complete(b) => b.as_slice(),
                Line::TooLong { .. } => panic!("not too long"),
            })
            .collect();
        assert_eq!(texts, [&b"abcdef"[..], b"", b"xy"]);
    }

    #[test]
    fn over_long_lines_keep_a_prefix_and_their_length() {
        let lines = read_all(b"0123456789ABCDEF\nok\n", 5);
        match &lines[0] {
            Line::TooLong { prefix, length } => {
                assert_eq!(prefix, b"01234");
                assert_eq!(*length, 16);
            }
            Line::Complete(_) => panic!("should be too long"),
        }
        assert!(matches!(&lines[1], Line::Complete(b) if b == b"ok"));
        assert_eq!(lines.len(), 2);
    }

    #[test]
    fn a_line_exactly_at_the_limit_is_complete() {
        let lines = read_all(b"12345\n", 5);
        assert!(matches!(&lines[0], Line::Complete(b) if b == b"12345"));
    }
}
