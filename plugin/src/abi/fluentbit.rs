//! The Fluent Bit `wasm` filter ABI: a `wasm32-wasip1` core module exporting
//! [`claude_audit_filter`] (`event_format: json`),
//! [`claude_audit_filter_msgpack`] (`event_format: msgpack`), `_initialize`,
//! and (see `plugin/build.rs`) wasi-libc's `malloc` and `free`.
//!
//! Fluent Bit does not tell the module which `event_format` the filter uses:
//! it calls the export the filter's `function_name` names. Each format has
//! its own export, and the record's first byte confirms it: JSON mode always
//! passes an object (`{`), msgpack mode a map (fixmap `0x80..=0x8f`, `0xde`,
//! `0xdf`), ranges that do not overlap. A record in the other export's format
//! is answered in its own format (see [`in_msgpack`]), because an answer in
//! the wrong format would be dropped (JSON mode) or, worse, appended to the
//! chunk as broken msgpack (msgpack mode).
//!
//! The contract, as observed in Fluent Bit 5.1 (`shared/agents/fluent-bit-wasm.md`):
//!
//! - Fluent Bit copies the tag (plus a NUL) and, in `event_format: json`, the
//!   record's JSON text (plus a NUL; in `msgpack`, the msgpack map without
//!   one) into linear memory with WAMR's
//!   `wasm_runtime_module_dup_data`, which calls the exported `malloc`; it
//!   calls the filter, then releases both copies with `free`. It does not
//!   check that allocation: a failed copy arrives as pointer 0 with the full
//!   length, so a null pointer is never read.
//! - The result must be a NUL-terminated string in linear memory, which
//!   Fluent Bit copies (`strdup`) and never frees; in msgpack mode too, so a
//!   msgpack answer must hold no zero byte (`crate::filter::msgpack`). It is this module's output
//!   buffer, reused across calls: valid until the next call, never leaked.
//! - One instance per filter, calls one at a time, no threads: the state
//!   below is a plain global.
//!
//! The record logic (configuration, event, markers) is in `crate::filter`.

use std::cell::UnsafeCell;
use std::path::PathBuf;

use crate::filter::Filter;
use crate::filter::msgpack::Buffers;

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
    /// Scratch buffers of the msgpack mode.
    msgpack: Buffers,
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
    msgpack: Buffers::new(),
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
    // SAFETY: the caller's contract, as documented above.
    unsafe { answer(record, record_len, false) }
}

/// The filter for `function_name: claude_audit_filter_msgpack`, `event_format:
/// msgpack`: the record is one msgpack map; the answer is the msgpack map
/// `{"claude_audit_json": "<the JSON answer of claude_audit_filter>"}`
/// with no zero byte, NUL-terminated, owned by this module and valid until
/// the next call (`crate::filter::msgpack` says why, and which Fluent Bit
/// `parser` filter turns it back into the record).
///
/// # Safety
/// As [`claude_audit_filter`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn claude_audit_filter_msgpack(
    _tag: *const u8,
    _tag_len: u32,
    _time_sec: u32,
    _time_nsec: u32,
    record: *const u8,
    record_len: u32,
) -> *const u8 {
    // SAFETY: the caller's contract, as documented above.
    unsafe { answer(record, record_len, true) }
}

/// The answer of either export to `record`, in the format the record came
/// in ([`in_msgpack`]; `msgpack_export` says which export was called).
///
/// # Safety
/// As [`claude_audit_filter`].
unsafe fn answer(record: *const u8, record_len: u32, msgpack_export: bool) -> *const u8 {
    // SAFETY: the caller's contract.
    let bytes = unsafe { record_bytes(record, record_len) };
    // SAFETY: one reference for this call.
    let state = unsafe { state() };
    if in_msgpack(bytes, msgpack_export) {
        state.msgpack_answer(bytes, record_len)
    } else {
        state.json_answer(bytes, record_len)
    }
}

/// Whether the record came in `event_format: msgpack` (else `json`), from
/// its first byte (module documentation); a record without bytes is taken
/// to be in the export's own format, `msgpack_export`.
fn in_msgpack(record: Option<&[u8]>, msgpack_export: bool) -> bool {
    match record.and_then(<[u8]>::first) {
        Some(0x80..=0x8f | 0xde | 0xdf) => true,
        Some(b'{') => false,
        _ => msgpack_export,
    }
}

impl State {
    /// The JSON-mode answer to `record`.
    fn json_answer(&mut self, record: Option<&[u8]>, len: u32) -> *const u8 {
        let mut out = std::mem::take(&mut self.out);
        self.filter().process(record, len as usize, &mut out);
        self.finish(out)
    }

    /// The msgpack-mode answer to `record`.
    fn msgpack_answer(&mut self, record: Option<&[u8]>, len: u32) -> *const u8 {
        let mut out = std::mem::take(&mut self.out);
        let mut buffers = std::mem::take(&mut self.msgpack);
        self.filter()
            .process_msgpack(record, len as usize, &mut buffers, &mut out);
        buffers.shrink(KEEP_OUTPUT_CAPACITY);
        self.msgpack = buffers;
        self.finish(out)
    }

    /// Keep `out` (the answer) with its NUL as the result buffer and return
    /// the pointer Fluent Bit reads.
    fn finish(&mut self, mut out: Vec<u8>) -> *const u8 {
        out.push(0);
        if out.capacity() > KEEP_OUTPUT_CAPACITY && out.len() < KEEP_OUTPUT_CAPACITY / 2 {
            out.shrink_to(KEEP_OUTPUT_CAPACITY / 2);
        }
        self.out = out;
        self.out.as_ptr()
    }
}

/// The record Fluent Bit passed, or `None` for a null pointer or a range
/// outside linear memory (a failed copy: never read).
///
/// # Safety
/// `record` must be null or point to `len` bytes that stay untouched until
/// the export returns, or lie (partly) outside linear memory.
unsafe fn record_bytes<'a>(record: *const u8, len: u32) -> Option<&'a [u8]> {
    let len = len as usize;
    if record.is_null() || !in_linear_memory(record as usize, len) {
        return None;
    }
    // SAFETY: non-null, inside linear memory (checked above), and the
    // caller's copy stays untouched until we return.
    Some(unsafe { std::slice::from_raw_parts(record, len) })
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
