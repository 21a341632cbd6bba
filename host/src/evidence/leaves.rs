//! The store's leaf hashes read from its per-segment index files
//! (`segments/<first>.idx`, 32 bytes per leaf), so that proofs need not
//! hold every leaf hash in memory (see [`super::merkle::Tree::over`]).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};

use super::layout;
use super::merkle::{Hash, LeafSource, Tree};

/// The index files of a store, in leaf order.
pub struct IndexFiles {
    /// `(first leaf, leaves, index file)`.
    segments: Vec<(u64, u64, PathBuf)>,
}

impl IndexFiles {
    /// The index files of the store in `dir` (contiguous, or an error).
    pub fn open(dir: &Path) -> Result<Self> {
        let mut segments = Vec::new();
        let mut next = 0;
        for segment in layout::segments(dir)? {
            ensure!(
                segment.first == next,
                "{} starts at leaf {}, expected {next}: run `claude-audit verify`",
                segment.name(),
                segment.first
            );
            // The newest segment's index may not exist yet: a crash
            // between creating the segment and its index leaves none.
            let bytes = match std::fs::metadata(&segment.index) {
                Ok(m) => m.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
                Err(e) => {
                    return Err(e).with_context(|| format!("reading {}", segment.index.display()));
                }
            };
            segments.push((segment.first, bytes / 32, segment.index));
            next += bytes / 32;
        }
        Ok(Self { segments })
    }

    /// Leaves listed.
    pub fn leaves(&self) -> u64 {
        self.segments.last().map_or(0, |(first, n, _)| first + n)
    }
}

/// The tree of the first `size` leaves of the store in `dir`, reading its
/// low levels from the index files ([`Tree::over`]).
pub fn tree(dir: &Path, size: u64) -> Result<Tree> {
    let leaves = IndexFiles::open(dir)?;
    ensure!(
        leaves.leaves() >= size,
        "the store holds {} events, its checkpoint covers {size}: run `claude-audit verify`",
        leaves.leaves()
    );
    Tree::over(Box::new(leaves), size)
}

impl LeafSource for IndexFiles {
    fn read(&self, start: u64, end: u64) -> Result<Vec<Hash>> {
        ensure!(
            end <= self.leaves(),
            "leaves {start}..{end} are not in the store"
        );
        let mut out = Vec::with_capacity((end - start) as usize);
        for (first, n, path) in &self.segments {
            let (from, to) = (start.max(*first), end.min(first + n));
            if from >= to {
                continue;
            }
            let context = || format!("reading {}", path.display());
            let mut file = File::open(path).with_context(context)?;
            file.seek(SeekFrom::Start((from - first) * 32))
                .with_context(context)?;
            let mut bytes = vec![0; ((to - from) * 32) as usize];
            file.read_exact(&mut bytes).with_context(context)?;
            out.extend(
                bytes
                    .chunks_exact(32)
                    .map(|c| Hash::try_from(c).unwrap_or_default()),
            );
        }
        Ok(out)
    }
}
