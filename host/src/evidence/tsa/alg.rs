//! Algorithm identifiers of time-stamp tokens: digests, and the signature
//! algorithms of CMS signer infos and X.509 certificates, checked with ring.
//!
//! ring (already linked through ureq's rustls) does the arithmetic; this
//! module only maps the ASN.1 identifiers onto ring's algorithms, so an
//! identifier we do not know is an error, never a silent pass.

use anyhow::{Context, Result, bail, ensure};
use der::Decode;
use der::asn1::ObjectIdentifier as Oid;
use ring::digest;
use ring::signature::{self as sig, UnparsedPublicKey, VerificationAlgorithm};
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

/// id-sha256 (RFC 5758), the digest of our requests.
pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");

const RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
const RSA_SHA256: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
const RSA_SHA384: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
const RSA_SHA512: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
const RSA_PSS: Oid = Oid::new_unwrap("1.2.840.113549.1.1.10");
const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
const ECDSA_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
const P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
const P384: Oid = Oid::new_unwrap("1.3.132.0.34");

/// A digest algorithm of a token: the signer's, or an ESSCertID's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Digest {
    /// SHA-1: only for ESSCertID (signing-certificate v1), never signatures.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl Digest {
    /// The digest named by `oid`.
    pub fn from_oid(oid: &Oid) -> Result<Self> {
        Ok(match *oid {
            SHA1 => Self::Sha1,
            SHA256 => Self::Sha256,
            SHA384 => Self::Sha384,
            SHA512 => Self::Sha512,
            _ => bail!("unsupported digest algorithm {oid}"),
        })
    }

    /// The digest of `data`.
    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            Self::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => &digest::SHA256,
            Self::Sha384 => &digest::SHA384,
            Self::Sha512 => &digest::SHA512,
        };
        digest::digest(alg, data).as_ref().to_vec()
    }
}

/// RSASSA-PSS-params (RFC 4055 §3.1): only the hash is needed, since ring
/// verifies with MGF1 over the same hash and a salt as long as the hash
/// (the parameters RFC 4055 recommends, and what TSAs use).
#[derive(der::Sequence)]
struct PssParams {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    hash: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    mask_gen: Option<der::Any>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    salt_length: Option<u32>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    trailer: Option<u32>,
}

/// Check `signature` over `message` by the key `spki`, with the signature
/// algorithm `alg` (and, for CMS signer infos whose algorithm names only
/// the key type, the signer's digest `digest`).
pub fn verify(
    spki: &SubjectPublicKeyInfoOwned,
    alg: &AlgorithmIdentifierOwned,
    digest: Option<Digest>,
    message: &[u8],
    signature: &[u8],
) -> Result<()> {
    let ring_alg = ring_algorithm(spki, alg, digest)?;
    let key = spki
        .subject_public_key
        .as_bytes()
        .context("the public key is not a whole number of bytes")?;
    UnparsedPublicKey::new(ring_alg, key)
        .verify(message, signature)
        .ok()
        .with_context(|| format!("the signature ({}) does not verify", alg.oid))
}

/// ring's algorithm for `alg` with the key of `spki`.
fn ring_algorithm(
    spki: &SubjectPublicKeyInfoOwned,
    alg: &AlgorithmIdentifierOwned,
    digest: Option<Digest>,
) -> Result<&'static dyn VerificationAlgorithm> {
    let hash = match alg.oid {
        RSA_SHA256 | ECDSA_SHA256 => Digest::Sha256,
        RSA_SHA384 | ECDSA_SHA384 => Digest::Sha384,
        RSA_SHA512 => Digest::Sha512,
        RSA_PSS => pss_hash(alg)?,
        RSA | EC_PUBLIC_KEY => digest.context("no digest algorithm for the signature")?,
        other => bail!("unsupported signature algorithm {other}"),
    };
    if let Some(d) = digest {
        ensure!(
            d == hash,
            "the signature algorithm {} disagrees with the digest algorithm {d:?}",
            alg.oid
        );
    }
    match alg.oid {
        RSA_PSS => rsa(spki, hash, true),
        RSA | RSA_SHA256 | RSA_SHA384 | RSA_SHA512 => rsa(spki, hash, false),
        _ => ecdsa(spki, hash),
    }
}

fn pss_hash(alg: &AlgorithmIdentifierOwned) -> Result<Digest> {
    let params = alg
        .parameters
        .as_ref()
        .context("RSASSA-PSS without parameters")?;
    let params = PssParams::from_der(&der::Encode::to_der(params)?)
        .context("RSASSA-PSS parameters are not DER")?;
    let hash = params
        .hash
        .context("RSASSA-PSS with the default hash (SHA-1) is not accepted")?;
    let hash = Digest::from_oid(&hash.oid)?;
    if let Some(salt) = params.salt_length {
        ensure!(
            salt as usize == hash.hash(b"").len(),
            "RSASSA-PSS salt length {salt} is not the hash length (unsupported)"
        );
    }
    Ok(hash)
}

/// RSA keys only, of 2048 bits or more (ring's `_2048_8192` algorithms).
fn rsa(
    spki: &SubjectPublicKeyInfoOwned,
    hash: Digest,
    pss: bool,
) -> Result<&'static dyn VerificationAlgorithm> {
    ensure!(
        spki.algorithm.oid == RSA || spki.algorithm.oid == RSA_PSS,
        "the key is not an RSA key"
    );
    Ok(match (pss, hash) {
        (false, Digest::Sha256) => &sig::RSA_PKCS1_2048_8192_SHA256,
        (false, Digest::Sha384) => &sig::RSA_PKCS1_2048_8192_SHA384,
        (false, Digest::Sha512) => &sig::RSA_PKCS1_2048_8192_SHA512,
        (true, Digest::Sha256) => &sig::RSA_PSS_2048_8192_SHA256,
        (true, Digest::Sha384) => &sig::RSA_PSS_2048_8192_SHA384,
        (true, Digest::Sha512) => &sig::RSA_PSS_2048_8192_SHA512,
        (_, Digest::Sha1) => bail!("RSA signatures with SHA-1 are not accepted"),
    })
}

fn ecdsa(
    spki: &SubjectPublicKeyInfoOwned,
    hash: Digest,
) -> Result<&'static dyn VerificationAlgorithm> {
    ensure!(
        spki.algorithm.oid == EC_PUBLIC_KEY,
        "the key is not an EC key"
    );
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<Oid>().ok())
        .context("the EC key names no curve")?;
    Ok(match (curve, hash) {
        (P256, Digest::Sha256) => &sig::ECDSA_P256_SHA256_ASN1,
        (P256, Digest::Sha384) => &sig::ECDSA_P256_SHA384_ASN1,
        (P384, Digest::Sha256) => &sig::ECDSA_P384_SHA256_ASN1,
        (P384, Digest::Sha384) => &sig::ECDSA_P384_SHA384_ASN1,
        (curve, hash) => bail!("unsupported ECDSA curve {curve} with {hash:?}"),
    })
}
