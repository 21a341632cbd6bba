//! The evidence store: a tamper-evident, append-only Merkle log of every
//! emitted event, with signed checkpoints anyone can verify offline.
//!
//! - [`merkle`]: RFC 6962 hashing, compact range, proofs;
//! - [`note`]: C2SP signed notes with Ed25519, signer and verifier keys;
//! - [`checkpoint`]: C2SP tlog checkpoints;
//! - [`layout`]: the directory's files;
//! - [`store`]: the crash-safe writer;
//! - [`sink`]: how `run` and `pull` feed their output into a store;
//! - [`verify`]: the store verifier; [`proof`]: inclusion proofs;
//! - [`report`], [`report_html`]: signed audit reports;
//! - [`retention`]: tombstones of events removed by retention.

pub mod checkpoint;
pub mod layout;
pub mod merkle;
pub mod note;
pub mod proof;
pub mod report;
pub mod report_html;
pub mod retention;
pub mod sink;
pub mod store;
pub mod verify;
