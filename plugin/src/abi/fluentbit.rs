//! The Fluent Bit `wasm` filter ABI: a `wasm32-wasip1` core module exporting
//! [`claude_audit_filter`], `_initialize`, and (see `plugin/build.rs`)
//! wasi-libc's `malloc` and `free`.
//!
//! The contract, as observed in Fluent Bit 5.1 (`shared/agents/fluent-bit-wasm.md`):
//!
//! - Fluent Bit copies the tag (plus a NUL) and, in `event_format: json`, the
//!   record's JSON text (plus a NUL) into linear memory with WAMR's
//!   `wasm_runtime_module_dup_data`, which calls the exported `malloc`; it
//!   calls the filter, then releases both copies with `free`. It does not
//!   check that allocation: a failed copy arrives as pointer 0 with the full
//!   length, so a null pointer is never read.
//! - The result must be a NUL-terminated string in linear memory, which
//!   Fluent Bit copies (`strdup`) and never frees. It is this module's output
//!   buffer, reused across calls: valid until the next call, never leaked.
//! - One instance per filter, calls one at a time, no threads: the state
//!   below is a plain global.
//!
//! The record logic (configuration, event, markers) is in `crate::filter`.

use std::cell::UnsafeCell;
use std::path::PathBuf;

use crate::filter::Filter;

/// Output buffers above this capacity are shrunk back after a smaller
/// answer, so that one huge record does not pin its memory for the life of
/// the filter.
const KEEP_OUTPUT_CAPACITY: usize = 256 << 10;

/// Upper bound of the file descriptors probed for preopened directories
/// (WASI numbers them from 3, consecutively).
const MAX_PREOPEN_FD: u32 = 1024;

/// The module's state: the filter (loaded once) and the result buffer.
struct State {
    /// `None` until the first `_initialize` or filter call.
    filter: Option<Filter>,
    /// The last answer plus its NUL: what the returned pointer points into.
    out: Vec<u8>,
}

/// The global state, in an `UnsafeCell` rather than a `RefCell`: if a call
/// ever traps half-way (Fluent Bit then drops that record and goes on with
/// the same instance), a `RefCell` would stay borrowed and every later call
/// would trap too.
struct Global(UnsafeCell<State>);

// SAFETY: wasm32-wasip1 without the atomics feature runs one thread, and
// Fluent Bit calls the exports of an instance one at a time, never
// re-entrantly; so there is never concurrent access to the state.
unsafe impl Sync for Global {}

static STATE: Global = Global(UnsafeCell::new(State {
    filter: None,
    out: Vec::new(),
}));

/// The state, for the duration of one export call.
///
/// # Safety
/// Call once per export call and do not keep the reference beyond it (see
/// the `Sync` impl of [`Global`]).
unsafe fn state() -> &'static mut State {
    // SAFETY: single-threaded, non-reentrant, one reference per call (above).
    unsafe { &mut *STATE.0.get() }
}

impl State {
    /// The filter, set up on first use: wasi-libc's constructors, then the
    /// configuration, whose outcome is reported once on stderr (Fluent Bit's
    /// own stderr).
    fn filter(&mut self) -> &Filter {
        unsafe extern "C" {
            /// Static constructors of wasi-libc, synthesized by the linker; a
            /// reactor runs them once before anything else (as wasi-libc's
            /// crt1-reactor `_initialize` does).
            fn __wasm_call_ctors();
        }
        self.filter.get_or_insert_with(|| {
            // SAFETY: runs once (the filter is set right after), before the
            // first use of wasi-libc's preopen table.
            unsafe { __wasm_call_ctors() };
            let filter = Filter::load(&preopened_dirs());
            eprintln!("{}", filter.status_message());
            filter
        })
    }
}

/// Reactor initialisation, run by WAMR once after instantiation. Exporting it
/// also makes the module a WASI reactor, which keeps WAMR from printing its
/// "neither a command nor a reactor" warning on Fluent Bit's stdout. The
/// configuration is read here, so that a configuration error shows at
/// start-up rather than with the first record. (If a host skips it, the
/// first filter call does the same.)
#[unsafe(no_mangle)]
pub extern "C" fn _initialize() {
    // SAFETY: one reference for this call.
    let state = unsafe { state() };
    state.filter();
}

/// The filter Fluent Bit calls for each record (`function_name:
/// claude_audit_filter`, `event_format: json`). Returns a pointer to a
/// NUL-terminated JSON object owned by this module and valid until the next
/// call: the normalized event, or a `claude_audit_filtered` or
/// `claude_audit_dead_letter` marker (`crate::filter`).
///
/// The tag and time are not used: the event's time is the activity's own
/// `created_at`, and Fluent Bit keeps the record's timestamp and tag anyway.
///
/// # Safety
/// `record` must be null or point to `record_len` readable bytes of this
/// module's linear memory (Fluent Bit's copy). A pointer whose range lies
/// outside linear memory is treated like null, not read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn claude_audit_filter(
    _tag: *const u8,
    _tag_len: u32,
    _time_sec: u32,
    _time_nsec: u32,
    record: *const u8,
    record_len: u32,
) -> *const u8 {
    // SAFETY: one reference for this call.
    let state = unsafe { state() };
    let len = record_len as usize;
    let bytes = if record.is_null() || !in_linear_memory(record as usize, len) {
        None
    } else {
        // SAFETY: non-null, inside linear memory (checked above), and the
        // caller's copy stays untouched until we return.
        Some(unsafe { std::slice::from_raw_parts(record, len) })
    };
    let mut out = std::mem::take(&mut state.out);
    state.filter().process(bytes, len, &mut out);
    out.push(0);
    if out.capacity() > KEEP_OUTPUT_CAPACITY && out.len() < KEEP_OUTPUT_CAPACITY / 2 {
        out.shrink_to(KEEP_OUTPUT_CAPACITY / 2);
    }
    state.out = out;
    state.out.as_ptr()
}

/// Whether `[start, start + len)` lies inside linear memory 0.
fn in_linear_memory(start: usize, len: usize) -> bool {
    const PAGE: usize = 64 << 10;
    let size = core::arch::wasm32::memory_size(0).saturating_mul(PAGE);
    start.checked_add(len).is_some_and(|end| end <= size)
}

/// The directories preopened by the runtime (Fluent Bit's
/// `accessible_paths`), by their guest names. WASI preview 1 has no call that
/// lists them, so the descriptors from 3 up are probed until one is not open,
/// which is how wasi-libc builds its own table.
fn preopened_dirs() -> Vec<PathBuf> {
    #[link(wasm_import_module = "wasi_snapshot_preview1")]
    unsafe extern "C" {
        /// `fd_prestat_get(fd, *prestat) -> errno`; a prestat is
        /// `{ tag: u8, name_len: u32 }` (tag 0: directory).
        #[link_name = "fd_prestat_get"]
        fn wasi_fd_prestat_get(fd: u32, prestat: *mut [u32; 2]) -> u16;
        /// `fd_prestat_dir_name(fd, *name, name_len) -> errno`.
        #[link_name = "fd_prestat_dir_name"]
        fn wasi_fd_prestat_dir_name(fd: u32, name: *mut u8, len: usize) -> u16;
    }
    const PREOPEN_TYPE_DIR: u32 = 0;
    let mut dirs = Vec::new();
    for fd in 3..MAX_PREOPEN_FD {
        let mut prestat = [0u32; 2];
        // SAFETY: `prestat` is 8 writable, 4-aligned bytes, the size of a
        // WASI prestat.
        if unsafe { wasi_fd_prestat_get(fd, &mut prestat) } != 0 {
            break;
        }
        if prestat[0] & 0xff != PREOPEN_TYPE_DIR {
            continue;
        }
        let mut name = vec![0u8; prestat[1] as usize];
        // SAFETY: `name` has exactly the length the runtime asked for.
        if unsafe { wasi_fd_prestat_dir_name(fd, name.as_mut_ptr(), name.len()) } != 0 {
            continue;
        }
        // Some runtimes count a trailing NUL in the length.
        while name.last() == Some(&0) {
            name.pop();
        }
        if let Ok(name) = String::from_utf8(name) {
            dirs.push(PathBuf::from(name));
        }
    }
    dirs
}
