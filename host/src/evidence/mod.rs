//! The evidence store: a tamper-evident, append-only Merkle log of every
//! emitted event, with signed checkpoints anyone can verify offline.
//!
//! - [`merkle`]: RFC 6962 hashing, compact range, proofs;
//! - [`note`]: C2SP signed notes with Ed25519, signer and verifier keys;
//! - [`checkpoint`]: C2SP tlog checkpoints;
//! - [`layout`]: the directory's files; [`leaves`]: leaf hashes read from them;
//! - [`store`]: the crash-safe writer;
//! - [`sink`]: how `run` and `pull` feed their output into a store;
//! - [`recover`]: which events `serve` keeps after a crash;
//! - [`verify`]: the store verifier; [`proof`]: inclusion proofs;
//!   [`consistency`]: consistency proofs between checkpoints;
//! - [`report`], [`report_html`]: signed audit reports;
//! - [`restore`]: a store rebuilt from the lines the agents shipped;
//! - [`retention`]: tombstones of events removed by retention, and the
//!   store's signed records; [`runs`]: run summaries (completeness figures);
//! - [`content`]: what a report shows of a conversation-content event;
//! - [`tsa`]: RFC 3161 time-stamps on reports.

pub mod checkpoint;
pub mod consistency;
pub mod content;
pub mod layout;
pub mod leaves;
pub mod merkle;
pub mod note;
pub mod proof;
pub mod recover;
pub mod report;
pub mod report_html;
pub mod restore;
pub mod retention;
pub mod runs;
pub mod sink;
pub mod store;
pub mod tsa;
pub mod verify;
