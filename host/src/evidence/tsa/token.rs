//! Verifying an RFC 3161 `TimeStampToken`: a CMS `SignedData` (RFC 5652)
//! whose encapsulated content is a `TSTInfo`.
//!
//! Checked: the content types; the `TSTInfo`'s message imprint (SHA-256 of
//! the time-stamped bytes); the signed attributes (content-type = id-ct-
//! TSTInfo, message-digest = the digest of the encapsulated `TSTInfo`,
//! signing-certificate or signing-certificate-v2 naming the signer
//! certificate by its hash, RFC 5035); the signature over the signed
//! attributes with the signer certificate carried in the token; and that
//! certificate's critical extendedKeyUsage id-kp-timeStamping and validity
//! at genTime (RFC 3161 §2.3). Whether the signer is trusted is for
//! [`super::trust`].

use anyhow::{Context, Result, bail, ensure};
use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedAttributes, SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{Int, ObjectIdentifier as Oid, OctetString};
use der::{Any, Decode, Encode, Tag, Tagged};
use x509_cert::Certificate;
use x509_cert::ext::Extensions;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectKeyIdentifier};
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_tsp::{Accuracy, MessageImprint};

use super::alg::{self, Digest};
use crate::pull::time::{Nanos, parse_rfc3339};

const SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
const TST_INFO: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.1.4");
const CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
const MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
const SIGNING_CERTIFICATE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.12");
const SIGNING_CERTIFICATE_V2: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.47");
const SUBJECT_KEY_ID: Oid = Oid::new_unwrap("2.5.29.14");
const EXTENDED_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.37");
const TIME_STAMPING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.8");

/// TSTInfo (RFC 3161 §2.4.2) as x509-tsp has it, but with genTime read
/// here: x509-tsp's `GeneralizedTime` (der 0.7) rejects the fractional
/// seconds RFC 3161 allows and many TSAs send.
#[derive(der::Sequence)]
struct TstInfo {
    version: u8,
    policy: Oid,
    message_imprint: MessageImprint,
    serial_number: Int,
    gen_time: Any,
    #[asn1(optional = "true")]
    accuracy: Option<Accuracy>,
    #[asn1(default = "Default::default")]
    ordering: bool,
    #[asn1(optional = "true")]
    nonce: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<GeneralName>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    extensions: Option<Extensions>,
}

/// genTime, `YYYYMMDDhhmmss[.s+]Z` (RFC 3161 §2.4.2), as RFC 3339 and
/// Unix nanoseconds.
fn gen_time(value: &Any) -> Result<(String, Nanos)> {
    ensure!(
        value.tag() == Tag::GeneralizedTime,
        "genTime is not a GeneralizedTime"
    );
    let text = std::str::from_utf8(value.value()).ok();
    let rfc3339 = text
        .filter(|t| t.len() >= 15 && t.is_ascii() && t.ends_with('Z'))
        .map(|t| {
            let (d, rest) = t.split_at(8);
            let (h, frac) = rest.split_at(6);
            let (y, m, d) = (&d[..4], &d[4..6], &d[6..]);
            let (hh, mm, ss) = (&h[..2], &h[2..4], &h[4..]);
            format!("{y}-{m}-{d}T{hh}:{mm}:{ss}{frac}")
        })
        .with_context(|| format!("genTime {text:?} is not YYYYMMDDhhmmss[.s]Z"))?;
    let nanos = parse_rfc3339(&rfc3339).with_context(|| format!("genTime {rfc3339}"))?;
    Ok((rfc3339, nanos))
}

/// ESSCertID (RFC 2634 §5.4.1), of signing-certificate.
#[derive(der::Sequence)]
struct EssCertId {
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<Any>,
}

/// SigningCertificate (RFC 2634 §5.4).
#[derive(der::Sequence)]
struct SigningCertificate {
    certs: Vec<EssCertId>,
    #[asn1(optional = "true")]
    policies: Option<Any>,
}

/// ESSCertIDv2 (RFC 5035 §4), of signing-certificate-v2.
#[derive(der::Sequence)]
struct EssCertIdV2 {
    #[asn1(optional = "true")]
    hash_algorithm: Option<AlgorithmIdentifierOwned>,
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<Any>,
}

/// SigningCertificateV2 (RFC 5035 §3).
#[derive(der::Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
    #[asn1(optional = "true")]
    policies: Option<Any>,
}

/// A token whose signature verified, and what it says.
#[derive(Debug)]
pub struct Token {
    /// genTime, RFC 3339.
    pub gen_time: String,
    /// The TSA's serial number of the token, hex.
    pub serial: String,
    /// The TSA policy OID.
    pub policy: String,
    /// The nonce, as DER integer content bytes.
    pub nonce: Option<Vec<u8>>,
    /// The signer (TSA) certificate carried in the token.
    pub signer: Certificate,
}

impl Token {
    /// The TSA's subject name (RFC 4514).
    pub fn subject(&self) -> String {
        self.signer.tbs_certificate.subject.to_string()
    }
}

/// Verify the DER `TimeStampToken` `token` as a time-stamp of the bytes
/// whose SHA-256 is `digest`.
pub fn verify(token: &[u8], digest: &[u8]) -> Result<Token> {
    let info = ContentInfo::from_der(token).context("the token is not a DER CMS ContentInfo")?;
    ensure!(
        info.content_type == SIGNED_DATA,
        "the token is not CMS SignedData"
    );
    let signed: SignedData = info
        .content
        .decode_as()
        .context("the token's SignedData is not DER")?;
    let tst_der = encapsulated_tst_info(&signed)?;
    let tst = TstInfo::from_der(&tst_der).context("the token's TSTInfo is not DER")?;
    ensure!(tst.version == 1, "TSTInfo version {} (not v1)", tst.version);
    let (gen_rfc3339, gen_nanos) = gen_time(&tst.gen_time)?;
    check_imprint(&tst, digest)?;
    let signer_info = only_signer(&signed)?;
    let signer = signer_certificate(&signed, signer_info)?;
    let digest_alg = Digest::from_oid(&signer_info.digest_alg.oid)?;
    let attrs = signer_info
        .signed_attrs
        .as_ref()
        .context("the token has no signed attributes")?;
    check_attributes(attrs, digest_alg, &tst_der, &signer)?;
    alg::verify(
        &signer.tbs_certificate.subject_public_key_info,
        &signer_info.signature_algorithm,
        Some(digest_alg),
        &attrs.to_der()?,
        signer_info.signature.as_bytes(),
    )
    .context("the TSA's signature over the token")?;
    check_tsa_certificate(&signer, gen_nanos)?;
    Ok(Token {
        gen_time: gen_rfc3339,
        serial: hex::encode(tst.serial_number.as_bytes()),
        policy: tst.policy.to_string(),
        nonce: tst.nonce.map(|n| n.as_bytes().to_vec()),
        signer,
    })
}

fn encapsulated_tst_info(signed: &SignedData) -> Result<Vec<u8>> {
    let encap = &signed.encap_content_info;
    ensure!(
        encap.econtent_type == TST_INFO,
        "the token's content is {}, not a TSTInfo",
        encap.econtent_type
    );
    let content = encap
        .econtent
        .as_ref()
        .context("the token has no TSTInfo")?;
    let octets: OctetString = content
        .decode_as()
        .context("the token's TSTInfo is not an OCTET STRING")?;
    Ok(octets.into_bytes())
}

fn check_imprint(tst: &TstInfo, digest: &[u8]) -> Result<()> {
    let imprint = &tst.message_imprint;
    ensure!(
        imprint.hash_algorithm.oid == alg::SHA256,
        "the token time-stamps a {} digest, not SHA-256",
        imprint.hash_algorithm.oid
    );
    ensure!(
        imprint.hashed_message.as_bytes() == digest,
        "the token time-stamps another digest ({}), not SHA-256 of report.json ({})",
        hex::encode(imprint.hashed_message.as_bytes()),
        hex::encode(digest)
    );
    Ok(())
}

fn only_signer(signed: &SignedData) -> Result<&SignerInfo> {
    let infos = &signed.signer_infos.0;
    ensure!(
        infos.len() == 1,
        "the token has {} signers, not one",
        infos.len()
    );
    infos.get(0).context("the token has no signer")
}

/// The certificate of the token named by the signer's identifier.
fn signer_certificate(signed: &SignedData, signer: &SignerInfo) -> Result<Certificate> {
    let certs = signed
        .certificates
        .as_ref()
        .context("the token carries no certificate (the TSA ignored certReq)")?;
    certs
        .0
        .iter()
        .filter_map(|c| match c {
            CertificateChoices::Certificate(c) => Some(c),
            CertificateChoices::Other(_) => None,
        })
        .find(|c| names(&signer.sid, c))
        .cloned()
        .context("the token does not carry its signer's certificate")
}

fn names(sid: &SignerIdentifier, cert: &Certificate) -> bool {
    let tbs = &cert.tbs_certificate;
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(i) => {
            i.issuer == tbs.issuer && i.serial_number == tbs.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => extension(cert, SUBJECT_KEY_ID)
            .and_then(|e| SubjectKeyIdentifier::from_der(e.extn_value.as_bytes()).ok())
            .is_some_and(|own| own == *ski),
    }
}

fn extension(cert: &Certificate, oid: Oid) -> Option<&x509_cert::ext::Extension> {
    cert.tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id == oid)
}

/// The single value of the signed attribute `oid`, which must not appear
/// twice (RFC 5652 §5.3: a verifier could otherwise read another value
/// than the one checked).
fn attribute(attrs: &SignedAttributes, oid: Oid) -> Result<Option<&Any>> {
    let mut found = attrs.iter().filter(|a| a.oid == oid);
    let Some(attr) = found.next() else {
        return Ok(None);
    };
    ensure!(
        found.next().is_none(),
        "signed attribute {oid} appears twice"
    );
    ensure!(
        attr.values.len() == 1,
        "signed attribute {oid} has {} values",
        attr.values.len()
    );
    Ok(attr.values.get(0))
}

fn check_attributes(
    attrs: &SignedAttributes,
    digest_alg: Digest,
    tst_der: &[u8],
    signer: &Certificate,
) -> Result<()> {
    let content_type: Oid = attribute(attrs, CONTENT_TYPE)?
        .context("no content-type signed attribute")?
        .decode_as()?;
    ensure!(
        content_type == TST_INFO,
        "the signed content-type is {content_type}, not id-ct-TSTInfo"
    );
    let signed_digest: OctetString = attribute(attrs, MESSAGE_DIGEST)?
        .context("no message-digest signed attribute")?
        .decode_as()?;
    ensure!(
        signed_digest.as_bytes() == digest_alg.hash(tst_der),
        "the signed message-digest is not the digest of the TSTInfo (the TSTInfo was altered)"
    );
    check_signing_certificate(attrs, signer)
}

/// RFC 3161 §2.4.2 / RFC 5035: the signer certificate is named, by hash,
/// in signing-certificate(-v2), so another certificate of the same key
/// cannot be substituted.
fn check_signing_certificate(attrs: &SignedAttributes, signer: &Certificate) -> Result<()> {
    let cert_der = signer.to_der()?;
    let (digest, hash) = if let Some(v2) = attribute(attrs, SIGNING_CERTIFICATE_V2)? {
        let v2: SigningCertificateV2 = v2.decode_as().context("signing-certificate-v2")?;
        let first = v2
            .certs
            .first()
            .context("signing-certificate-v2 is empty")?;
        let digest = first
            .hash_algorithm
            .as_ref()
            .map_or(Ok(Digest::Sha256), |a| Digest::from_oid(&a.oid))?;
        (digest, first.cert_hash.as_bytes().to_vec())
    } else if let Some(v1) = attribute(attrs, SIGNING_CERTIFICATE)? {
        let v1: SigningCertificate = v1.decode_as().context("signing-certificate")?;
        let first = v1.certs.first().context("signing-certificate is empty")?;
        (Digest::Sha1, first.cert_hash.as_bytes().to_vec())
    } else {
        bail!("no signing-certificate(-v2) signed attribute (RFC 3161 §2.4.2)");
    };
    ensure!(
        hash == digest.hash(&cert_der),
        "signing-certificate names another certificate than the token's signer certificate"
    );
    Ok(())
}

fn nanos(t: x509_cert::time::Time) -> Nanos {
    t.to_unix_duration().as_nanos() as Nanos
}

/// RFC 3161 §2.3: a TSA certificate has one extendedKeyUsage,
/// id-kp-timeStamping, critical; and it was valid at genTime.
fn check_tsa_certificate(cert: &Certificate, at: Nanos) -> Result<()> {
    let subject = &cert.tbs_certificate.subject;
    let eku = extension(cert, EXTENDED_KEY_USAGE)
        .with_context(|| format!("the TSA certificate {subject} has no extendedKeyUsage"))?;
    ensure!(
        eku.critical,
        "the TSA certificate {subject}'s extendedKeyUsage is not critical"
    );
    let usage = ExtendedKeyUsage::from_der(eku.extn_value.as_bytes())?;
    ensure!(
        usage.0 == [TIME_STAMPING],
        "the TSA certificate {subject}'s extendedKeyUsage is not timeStamping alone"
    );
    let validity = &cert.tbs_certificate.validity;
    ensure!(
        nanos(validity.not_before) <= at && at <= nanos(validity.not_after),
        "the TSA certificate {subject} was not valid at genTime ({} to {})",
        validity.not_before,
        validity.not_after
    );
    Ok(())
}
