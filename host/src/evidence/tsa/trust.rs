//! Anchoring a time-stamp token's signer in a TSA certificate the verifier
//! chose (`verify --report DIR --tsa-cert FILE`).
//!
//! The signer certificate must be the anchor itself, or be issued by it
//! (its issuer is the anchor's subject and the anchor's key verifies its
//! signature). One level only: a TSA behind intermediate CAs is anchored by
//! pinning the issuing CA, which is what an auditor who pins "this TSA"
//! wants. Revocation (CRL, OCSP) is not checked: it needs the network, and
//! the token is checked offline.

use std::path::Path;

use anyhow::{Context, Result, ensure};
use der::{DecodePem, Encode};
use x509_cert::Certificate;

use super::alg;

/// Read the trust anchor: one PEM certificate.
pub fn load_anchor(path: &Path) -> Result<Certificate> {
    let pem =
        std::fs::read(path).with_context(|| format!("reading --tsa-cert {}", path.display()))?;
    Certificate::from_pem(&pem)
        .with_context(|| format!("--tsa-cert {} is not a PEM certificate", path.display()))
}

/// How a signer is anchored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchored {
    /// The signer certificate is the anchor.
    Itself,
    /// The anchor issued the signer certificate.
    IssuedBy,
}

/// Check that `signer` is `anchor` or is issued by it.
pub fn check(signer: &Certificate, anchor: &Certificate) -> Result<Anchored> {
    if signer.to_der()? == anchor.to_der()? {
        return Ok(Anchored::Itself);
    }
    let (tbs, anchor_tbs) = (&signer.tbs_certificate, &anchor.tbs_certificate);
    ensure!(
        tbs.issuer == anchor_tbs.subject,
        "the TSA certificate {} is issued by {}, neither is the trust anchor {}",
        tbs.subject,
        tbs.issuer,
        anchor_tbs.subject
    );
    let signature = signer
        .signature
        .as_bytes()
        .context("the TSA certificate's signature is not whole bytes")?;
    alg::verify(
        &anchor_tbs.subject_public_key_info,
        &signer.signature_algorithm,
        None,
        &tbs.to_der()?,
        signature,
    )
    .with_context(|| {
        format!(
            "the TSA certificate {} is not signed by the trust anchor {} (another key of the same name)",
            tbs.subject, anchor_tbs.subject
        )
    })?;
    Ok(Anchored::IssuedBy)
}
