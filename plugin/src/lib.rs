//! The claude-audit transform: validates Claude compliance telemetry and
//! normalizes it into the canonical audit schema (v1).
//!
//! This crate is pure Rust with no WebAssembly types in its public API, so the
//! same logic runs natively (unit tests, the host's native benchmark) and
//! inside the sandbox. The WebAssembly ABIs live in `abi`, compiled only for
//! wasm targets: the component (`wasm32-wasip2`, WIT world
//! `claude-audit:transform/transform` in `wit/transform.wit`) and the Fluent
//! Bit `wasm` filter's core module (`wasm32-wasip1`, logic in [`filter`]).
//!
//! Entry point: [`Transform`]. The data that changes with the feed
//! (activity types, actor variants, field roles) lives in `plugin/data/`.

pub mod batch;
pub mod config;
pub mod content;
pub mod content_hash;
pub mod detect;
pub mod enrich;
pub mod error;
pub mod filter;
pub mod profile;
pub mod redact;

mod actor;
mod controls;
mod json;
mod json_writer;
mod normalize;
mod tables;
mod telemetry;
mod timestamp;

#[cfg(all(target_family = "wasm", any(target_env = "p1", target_env = "p2")))]
mod abi;

#[cfg(all(target_family = "wasm", target_env = "p2"))]
mod wasm_mem;

/// The allocator inside the sandbox. Normalization allocates a few small
/// buffers per record; Rust's default wasm allocator (dlmalloc) made the
/// sandboxed path measurably slower than talc (see the benchmark), and talc
/// alone slower than talc behind free lists of small blocks (`small_alloc`).
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
// SAFETY: the guest is single-threaded (no atomics), which is what
// `new_global` requires; talc then owns the memory it grows.
static ALLOCATOR: small_alloc::SmallBlocks = unsafe { small_alloc::SmallBlocks::new_global() };

#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
mod small_alloc;

pub use batch::{BatchOutput, Counters, DeadLetter, Transform, lines};
pub use detect::Detector;
pub use error::{ConfigError, ConfigErrorKind, RecordError, RecordErrorKind};
pub use normalize::SCHEMA_VERSION;
pub use redact::VaultEntry;
pub use redact::pseudonym::HmacKey;

/// The ABI version of `wit/transform.wit` this crate implements.
pub const ABI_VERSION: u32 = 4;
