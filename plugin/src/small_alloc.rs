//! The allocator inside the sandbox: talc, with free lists in front of it
//! for small blocks.
//!
//! Normalizing and redacting an event allocates and frees many small
//! buffers (strings, map nodes). In the sandboxed profile talc's `malloc`
//! and `free` were 7 % of a run (glibc's, natively, about 5 % of a faster
//! one). Blocks up to [`MAX_SMALL`] bytes are rounded up to a multiple of
//! [`GRAIN`] and, once freed, kept on a free list per size (a pointer
//! pushed and popped) instead of going back to talc. They are never handed
//! back to talc, so the memory held is the peak of small blocks live at
//! once, as with any such pool; the instance's memory limit still applies
//! to all of it.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::ptr;

/// Size step of the small classes, also their alignment.
const GRAIN: usize = 16;
/// Largest small block.
const MAX_SMALL: usize = 256;
const CLASSES: usize = MAX_SMALL / GRAIN;

/// talc behind free lists of small blocks (see the module docs).
pub struct SmallBlocks {
    talc: talc::TalckWasm,
    /// Head of each class's free list; a free block holds the next pointer.
    free: UnsafeCell<[*mut u8; CLASSES]>,
}

// SAFETY: the guest is single-threaded (built without atomics, checked by
// the `cfg` of the global allocator), so the free lists are never shared.
unsafe impl Sync for SmallBlocks {}

impl SmallBlocks {
    /// The allocator over talc's wasm memory.
    ///
    /// # Safety
    /// As `talc::TalckWasm::new_global`: a single-threaded wasm guest, and
    /// this is its only allocator.
    pub const unsafe fn new_global() -> Self {
        Self {
            // SAFETY: the caller's contract.
            talc: unsafe { talc::TalckWasm::new_global() },
            free: UnsafeCell::new([ptr::null_mut(); CLASSES]),
        }
    }
}

/// The class of a block of `layout`, if it is small.
fn class(layout: Layout) -> Option<usize> {
    (layout.size() <= MAX_SMALL && layout.align() <= GRAIN)
        .then(|| layout.size().saturating_sub(1) / GRAIN)
}

/// The layout talc gives blocks of `class`.
fn class_layout(class: usize) -> Layout {
    // SAFETY: a non-zero multiple of GRAIN, a power of two.
    unsafe { Layout::from_size_align_unchecked((class + 1) * GRAIN, GRAIN) }
}

// SAFETY: every block is talc's; a small block is only ever reused for the
// same class (same size and alignment), and free blocks are not aliased.
unsafe impl GlobalAlloc for SmallBlocks {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match class(layout) {
            Some(c) => {
                // SAFETY: single-threaded; no other reference to the lists.
                let free = unsafe { &mut *self.free.get() };
                let head = free[c];
                if head.is_null() {
                    // SAFETY: a valid, non-zero layout.
                    unsafe { self.talc.alloc(class_layout(c)) }
                } else {
                    // SAFETY: a free block of this class stores the next one.
                    free[c] = unsafe { head.cast::<*mut u8>().read() };
                    head
                }
            }
            // SAFETY: the caller's layout, as GlobalAlloc requires.
            None => unsafe { self.talc.alloc(layout) },
        }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        match class(layout) {
            Some(c) => {
                // SAFETY: single-threaded; the block (at least GRAIN bytes,
                // GRAIN-aligned) is ours again and holds the next pointer.
                unsafe {
                    let free = &mut *self.free.get();
                    block.cast::<*mut u8>().write(free[c]);
                    free[c] = block;
                }
            }
            // SAFETY: allocated by talc with this layout.
            None => unsafe { self.talc.dealloc(block, layout) },
        }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: GlobalAlloc's contract: new_size is valid for the alignment.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (class(layout), class(new_layout)) {
            (Some(a), Some(b)) if a == b => block,
            // SAFETY: a talc block of `layout` (large blocks are talc's own).
            (None, None) => unsafe { self.talc.realloc(block, layout, new_size) },
            _ => {
                // SAFETY: as alloc/dealloc; the copy stays within both blocks.
                unsafe {
                    let new = self.alloc(new_layout);
                    if !new.is_null() {
                        ptr::copy_nonoverlapping(block, new, layout.size().min(new_size));
                        self.dealloc(block, layout);
                    }
                    new
                }
            }
        }
    }
}
