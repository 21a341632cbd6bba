//! A batch of input lines on its way to the plugin: one NDJSON blob plus
//! where each line sits, filled straight from the reader's buffer.

use std::io::{self, BufRead};
use std::ops::Range;

use super::BatchLimits;
use crate::input::{Appended, LineReader};

/// Lines waiting to be sent: one NDJSON blob plus where each line sits.
/// Batches are recycled from one fill to the next, so that a long run
/// allocates its buffers once.
#[derive(Default)]
pub struct Batch {
    /// The lines, each followed by `\n`.
    pub blob: Vec<u8>,
    /// `(line number, byte range in blob without the newline)`.
    pub lines: Vec<(u64, Range<usize>)>,
}

/// Why [`Batch::fill`] stopped.
pub enum Fill {
    /// The batch reached its record or byte limit.
    Full,
    /// The input ended.
    End,
    /// This line is over the length limit (the batch holds the lines
    /// before it; the line itself is not in the batch).
    TooLong {
        /// Its line number.
        line: u64,
        /// Its first `max_record_bytes` bytes.
        prefix: Vec<u8>,
        /// Its full length.
        length: u64,
    },
}

impl Batch {
    /// Read lines into this (cleared) batch until it is full, the input
    /// ends or an over-long line comes. `line_no` is the number of the last
    /// line read so far, and is advanced.
    pub fn fill<R: BufRead>(
        &mut self,
        reader: &mut LineReader<R>,
        limits: &BatchLimits,
        line_no: &mut u64,
    ) -> io::Result<Fill> {
        self.clear();
        while self.lines.len() < limits.max_records && self.blob.len() < limits.max_bytes {
            let start = self.blob.len();
            match reader.append_line(&mut self.blob)? {
                None => return Ok(Fill::End),
                Some(Appended::Complete) => {
                    *line_no += 1;
                    self.lines.push((*line_no, start..self.blob.len()));
                    self.blob.push(b'\n');
                }
                Some(Appended::TooLong { prefix, length }) => {
                    *line_no += 1;
                    return Ok(Fill::TooLong {
                        line: *line_no,
                        prefix,
                        length,
                    });
                }
            }
        }
        Ok(Fill::Full)
    }

    /// Number of lines.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// True when the batch holds no line.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The NDJSON bytes of `range` of lines (contiguous in the blob).
    pub fn slice(&self, range: &Range<usize>) -> &[u8] {
        let start = self.lines[range.start].1.start;
        let end = self.lines[range.end - 1].1.end + 1;
        &self.blob[start..end]
    }

    /// `(line number, bytes)` of the line at `index`.
    pub fn line(&self, index: usize) -> (u64, &[u8]) {
        let (line, span) = &self.lines[index];
        (*line, &self.blob[span.clone()])
    }

    fn clear(&mut self) {
        self.blob.clear();
        self.lines.clear();
    }
}
