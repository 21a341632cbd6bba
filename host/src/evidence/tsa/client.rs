//! Requesting an RFC 3161 time-stamp over HTTP (RFC 3161 §3.4): a DER
//! `TimeStampReq` POSTed as `application/timestamp-query`, the
//! `TimeStampResp` read back as `application/timestamp-reply` and checked
//! (status, imprint, nonce, signature) before its token is kept.

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use der::asn1::{BitString, OctetString, Uint};
use der::{Any, Decode, Encode};
use x509_cert::spki::AlgorithmIdentifier;
use x509_tsp::{MessageImprint, TimeStampReq, TspVersion};

use super::alg;
use super::token::{self, Token};

/// How long a TSA may take to answer.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The largest reply read (a token with a certificate chain is a few KiB).
const MAX_REPLY_BYTES: u64 = 1 << 20;

/// PKIStatus names (RFC 3161 §2.4.2), by value.
const STATUS: [&str; 6] = [
    "granted",
    "grantedWithMods",
    "rejection",
    "waiting",
    "revocationWarning",
    "revocationNotification",
];

/// PKIFailureInfo bits (RFC 3161 §2.4.2).
const FAILURES: [(usize, &str); 8] = [
    (0, "badAlg: unrecognized or unsupported algorithm"),
    (2, "badRequest: transaction not permitted or supported"),
    (5, "badDataFormat: the data submitted has the wrong format"),
    (
        14,
        "timeNotAvailable: the TSA's time source is not available",
    ),
    (
        15,
        "unacceptedPolicy: the requested TSA policy is not supported",
    ),
    (
        16,
        "unacceptedExtension: the requested extension is not supported",
    ),
    (
        17,
        "addInfoNotAvailable: the additional information requested is not available",
    ),
    (
        25,
        "systemFailure: the request cannot be handled due to system failure",
    ),
];

/// PKIStatusInfo, decoded leniently: the text and failure bits are only
/// reported.
#[derive(der::Sequence)]
struct StatusInfo {
    status: u32,
    #[asn1(optional = "true")]
    text: Option<Vec<String>>,
    #[asn1(optional = "true")]
    fail_info: Option<BitString>,
}

/// TimeStampResp, with the token kept as the TSA's exact bytes.
#[derive(der::Sequence)]
struct Response {
    status: StatusInfo,
    #[asn1(optional = "true")]
    token: Option<Any>,
}

/// A verified time-stamp: the DER token and what it says.
pub struct Stamp {
    /// The `TimeStampToken` (a DER CMS ContentInfo), as the TSA sent it.
    pub der: Vec<u8>,
    /// Its verified content.
    pub token: Token,
}

/// Ask the TSA at `url` to time-stamp `digest` (SHA-256), and check its
/// answer.
pub fn stamp(url: &str, digest: &[u8; 32]) -> Result<Stamp> {
    let nonce = random_nonce()?;
    let request = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifier {
                oid: alg::SHA256,
                parameters: Some(Any::null()),
            },
            hashed_message: OctetString::new(digest.as_slice())?,
        },
        req_policy: None,
        nonce: Some(nonce.clone().into()),
        cert_req: true,
        extensions: None,
    }
    .to_der()
    .context("encoding the TimeStampReq")?;
    let reply = post(url, &request)?;
    let der = granted_token(&reply)?;
    let token = token::verify(&der, digest).context("the TSA's token does not verify")?;
    let want = der::asn1::Int::from(nonce);
    ensure!(
        token.nonce.as_deref() == Some(want.as_bytes()),
        "the TSA's token does not carry our nonce (a replayed or substituted reply)"
    );
    Ok(Stamp { der, token })
}

fn random_nonce() -> Result<Uint> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("drawing a nonce")?;
    Ok(Uint::new(&bytes)?)
}

fn post(url: &str, request: &[u8]) -> Result<Vec<u8>> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(TIMEOUT))
        .user_agent(concat!("claude-audit/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut response = agent
        .post(url)
        .header("content-type", "application/timestamp-query")
        .header("accept", "application/timestamp-reply")
        .send(request)
        .with_context(|| format!("sending the time-stamp request to {url}"))?;
    let status = response.status();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_REPLY_BYTES)
        .read_to_vec()
        .with_context(|| format!("reading the TSA's reply from {url}"))?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
        bail!("the TSA at {url} answered HTTP {status}: {}", text.trim());
    }
    ensure!(
        kind.split(';').next().map(str::trim) == Some("application/timestamp-reply"),
        "the TSA at {url} answered {kind:?}, not application/timestamp-reply"
    );
    Ok(body)
}

/// The token of a granted reply; the TSA's status and reasons otherwise.
fn granted_token(reply: &[u8]) -> Result<Vec<u8>> {
    let response =
        Response::from_der(reply).context("the TSA's reply is not a DER TimeStampResp")?;
    let status = &response.status;
    let name = STATUS
        .get(status.status as usize)
        .copied()
        .unwrap_or("unknown");
    if status.status > 1 {
        bail!(
            "the TSA did not grant the time-stamp: status {} ({name}){}",
            status.status,
            reasons(status)
        );
    }
    let token = response
        .token
        .context("the TSA granted the time-stamp but sent no token")?;
    Ok(token.to_der()?)
}

fn reasons(status: &StatusInfo) -> String {
    let mut out = String::new();
    for text in status.text.iter().flatten() {
        out.push_str(&format!(": {text:?}"));
    }
    let bits: Vec<bool> = status.fail_info.iter().flat_map(|b| b.bits()).collect();
    for (bit, what) in FAILURES {
        if bits.get(bit) == Some(&true) {
            out.push_str(&format!("; failure {what}"));
        }
    }
    out
}
