//! RFC 3161 time-stamps on audit reports: `report --tsa URL` asks a
//! time-stamping authority to sign SHA-256(report.json) and keeps the token
//! as `report.tsr`; `verify --report` checks it, and with `--tsa-cert`
//! anchors its signer.
//!
//! - [`client`]: the request over HTTP and the checks of the reply;
//! - [`token`]: the token's CMS signature and content;
//! - [`trust`]: the signer against a pinned TSA certificate;
//! - [`alg`]: digest and signature algorithm identifiers (ring verifies).

pub mod alg;
pub mod client;
pub mod token;
pub mod trust;

/// The token's file next to `report.json`: the DER `TimeStampToken` (a CMS
/// ContentInfo), as `openssl ts -verify -token_in` reads it.
pub const TOKEN_FILE: &str = "report.tsr";
