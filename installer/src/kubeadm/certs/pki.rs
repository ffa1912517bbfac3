//! Keys and certificates as kubeadm's `pkiutil` makes them (kubeadm v1.31+:
//! cmd/kubeadm/app/util/pkiutil/pki_helpers.go): key generation per `encryptionAlgorithm`, keys
//! written as `RSA PRIVATE KEY` (PKCS#1) / `EC PRIVATE KEY` (SEC1) like client-go's
//! `keyutil.MarshalPrivateKeyToPEM`, self-signed CAs, leaves signed by a CA, and the checks kubeadm
//! makes on files it finds (signed by the CA, in validity, SANs). Pure: the clock is passed in.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::signature::{self as lc, EcdsaKeyPair};
use rcgen::string::PrintableString;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, DnValue, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, PublicKeyData as _, SanType, SerialNumber,
};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer as _, GeneralName, X509Certificate};

use crate::kubeadm::KeyAlgorithm;

/// `CertificateBackdate`: NotBefore is this far before the start of the run.
pub const BACKDATE: Duration = Duration::from_secs(5 * 60);

/// What is wrong with a key or certificate (the caller names the file).
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// No PEM block of the expected kind.
    #[error("no PEM `{0}` block")]
    NoPem(&'static str),
    /// The certificate does not parse.
    #[error("not a valid X.509 certificate")]
    BadCertificate,
    /// The key does not parse.
    #[error("not a valid PEM private key")]
    BadKey,
    /// kubeadm's `TryLoadKeyFromDisk` accepts RSA and ECDSA keys only.
    #[error("the private key is neither in RSA nor ECDSA format")]
    UnsupportedKey,
    /// The key is not the certificate's.
    #[error("the private key does not match the certificate's public key")]
    KeyMismatch,
    /// Not signed by the CA.
    #[error("certificate is not signed by the CA `{ca}`")]
    NotSignedBy {
        /// The CA's subject.
        ca: String,
    },
    /// Outside its validity period.
    #[error("the certificate is not valid at {now}: NotBefore {not_before}, NotAfter {not_after}")]
    OutOfValidity {
        /// When checked.
        now: String,
        /// Its NotBefore.
        not_before: String,
        /// Its NotAfter.
        not_after: String,
    },
    /// A SAN the configuration asks for is missing.
    #[error("the certificate is not valid for {0}: it lacks this SAN")]
    MissingSan(String),
    /// rcgen failed.
    #[error("could not build the certificate")]
    Build(#[source] rcgen::Error),
    /// The crypto library failed.
    #[error("the crypto library failed to {0}")]
    Crypto(&'static str),
}

/// A private key with its on-disk form.
pub struct Key {
    /// The key, to sign with.
    pub pair: KeyPair,
    /// PEM as kubeadm writes it: `RSA PRIVATE KEY` (PKCS#1) or `EC PRIVATE KEY` (SEC1).
    pub pem: String,
}

/// `GeneratePrivateKey(encryptionAlgorithm)`.
pub fn generate_key(algorithm: KeyAlgorithm) -> Result<Key, PkiError> {
    let rsa = |size| KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, size).map_err(PkiError::Build);
    let pair = match algorithm {
        KeyAlgorithm::Rsa2048 => rsa(rcgen::RsaKeySize::_2048)?,
        KeyAlgorithm::Rsa3072 => rsa(rcgen::RsaKeySize::_3072)?,
        KeyAlgorithm::Rsa4096 => rsa(rcgen::RsaKeySize::_4096)?,
        KeyAlgorithm::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(PkiError::Build)?,
        KeyAlgorithm::EcdsaP384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).map_err(PkiError::Build)?,
    };
    let pem = private_key_pem(&pair)?;
    Ok(Key { pair, pem })
}

/// `count` keys generated on parallel threads (RSA generation takes tens of milliseconds each).
pub fn generate_keys(algorithm: KeyAlgorithm, count: usize) -> Result<Vec<Key>, PkiError> {
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..count).map(|_| scope.spawn(move || generate_key(algorithm))).collect();
        workers.into_iter().map(|worker| worker.join().unwrap_or(Err(PkiError::Crypto("generate a key")))).collect()
    })
}

/// The key in client-go's `MarshalPrivateKeyToPEM` form. rcgen holds PKCS#8: the RSA key is the
/// PKCS#8 payload as is (PKCS#1); the EC key is re-encoded by aws-lc as RFC 5915 with its curve,
/// as Go's `MarshalECPrivateKey` writes it.
pub fn private_key_pem(pair: &KeyPair) -> Result<String, PkiError> {
    let pkcs8 = pair.serialized_der();
    let alg = pair.algorithm();
    if alg == &rcgen::PKCS_RSA_SHA256 {
        let pkcs1 = pkcs8_payload(pkcs8).ok_or(PkiError::Crypto("unwrap a PKCS#8 RSA key"))?;
        return Ok(pem_encode("RSA PRIVATE KEY", pkcs1));
    }
    let curve = if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
        &lc::ECDSA_P256_SHA256_ASN1_SIGNING
    } else if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
        &lc::ECDSA_P384_SHA384_ASN1_SIGNING
    } else {
        return Err(PkiError::UnsupportedKey);
    };
    let ec = EcdsaKeyPair::from_pkcs8(curve, pkcs8).map_err(|_| PkiError::Crypto("read an EC key"))?;
    let sec1 = ec.private_key().as_der().map_err(|_| PkiError::Crypto("encode an EC key"))?;
    Ok(pem_encode("EC PRIVATE KEY", sec1.as_ref()))
}

/// Reads a PEM private key (PKCS#1, SEC1 or PKCS#8); only RSA and ECDSA keys are accepted, as
/// kubeadm's `TryLoadKeyFromDisk`.
pub fn parse_private_key(pem: &[u8]) -> Result<KeyPair, PkiError> {
    let text = std::str::from_utf8(pem).map_err(|_| PkiError::BadKey)?;
    let pair = KeyPair::from_pem(text).map_err(|_| PkiError::BadKey)?;
    let supported =
        [&rcgen::PKCS_RSA_SHA256, &rcgen::PKCS_ECDSA_P256_SHA256, &rcgen::PKCS_ECDSA_P384_SHA384, &rcgen::PKCS_ECDSA_P521_SHA512];
    if supported.contains(&pair.algorithm()) { Ok(pair) } else { Err(PkiError::UnsupportedKey) }
}

/// `sa.pub`: the SPKI as a `PUBLIC KEY` block (`x509.MarshalPKIXPublicKey`).
pub fn public_key_pem(pair: &KeyPair) -> String {
    pem_encode("PUBLIC KEY", &pair.subject_public_key_info())
}

/// What a certificate is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertRequest {
    /// Subject CN.
    pub common_name: String,
    /// Subject O, if any.
    pub organization: Option<String>,
    /// ExtKeyUsage (leaves).
    pub usages: Vec<ExtendedKeyUsagePurpose>,
    /// SANs, already in kubeadm's order (see `sans::AltNames::normalized`).
    pub dns_names: Vec<String>,
    /// IP SANs.
    pub ips: Vec<IpAddr>,
    /// NotBefore.
    pub not_before: SystemTime,
    /// NotAfter.
    pub not_after: SystemTime,
}

/// `NewSelfSignedCACert`: KeyUsage digitalSignature|keyEncipherment|keyCertSign (critical),
/// CA:TRUE, the CN as the only DNS SAN, a random serial. Returns the DER.
pub fn self_signed_ca(request: &CertRequest, key: &KeyPair) -> Result<Vec<u8>, PkiError> {
    let mut params = base_params(request)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages.push(KeyUsagePurpose::KeyCertSign);
    params.subject_alt_names = vec![dns_san(&request.common_name)?];
    Ok(params.self_signed(key).map_err(PkiError::Build)?.der().to_vec())
}

/// `NewSignedCert(isCA=false)`: KeyUsage digitalSignature|keyEncipherment, the given
/// ExtKeyUsage, CA:FALSE, AKI = the CA's SKI, no SKI (as Go's x509 for leaves). Returns the DER.
pub fn signed_leaf(request: &CertRequest, key: &KeyPair, ca_der: &[u8], ca_key: &KeyPair) -> Result<Vec<u8>, PkiError> {
    let mut params = base_params(request)?;
    params.extended_key_usages = request.usages.clone();
    // `IsCa::ExplicitNoCa` would add an SKI Go does not write: spell out the critical, empty
    // BasicConstraints (CA:FALSE) instead.
    params.is_ca = IsCa::NoCa;
    let mut basic_constraints = CustomExtension::from_oid_content(&[2, 5, 29, 19], vec![0x30, 0x00]);
    basic_constraints.set_criticality(true);
    params.custom_extensions.push(basic_constraints);
    params.use_authority_key_identifier_extension = true;
    for name in &request.dns_names {
        params.subject_alt_names.push(dns_san(name)?);
    }
    params.subject_alt_names.extend(request.ips.iter().map(|ip| SanType::IpAddress(*ip)));
    let issuer = Issuer::from_ca_cert_der(&ca_der.into(), ca_key).map_err(PkiError::Build)?;
    Ok(params.signed_by(key, &issuer).map_err(PkiError::Build)?.der().to_vec())
}

fn base_params(request: &CertRequest) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    // Go's pkix.Name puts O before CN, each as PrintableString when it can be one.
    if let Some(organization) = &request.organization {
        params.distinguished_name.push(DnType::OrganizationName, dn_value(organization));
    }
    params.distinguished_name.push(DnType::CommonName, dn_value(&request.common_name));
    params.not_before = OffsetDateTime::from(request.not_before);
    params.not_after = OffsetDateTime::from(request.not_after);
    params.serial_number = Some(random_serial()?);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    Ok(params)
}

fn dn_value(text: &str) -> DnValue {
    PrintableString::try_from(text).map(DnValue::PrintableString).unwrap_or_else(|_| DnValue::Utf8String(text.to_owned()))
}

fn dns_san(name: &str) -> Result<SanType, PkiError> {
    Ok(SanType::DnsName(name.try_into().map_err(PkiError::Build)?))
}

/// A uniform serial in [1, 2^63 − 1], as kubeadm's `cryptorand.Int(MaxInt64−1) + 1`.
fn random_serial() -> Result<SerialNumber, PkiError> {
    loop {
        let mut bytes = [0u8; 8];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| PkiError::Crypto("draw a random serial"))?;
        bytes[0] &= 0x7f;
        let value = u64::from_be_bytes(bytes);
        if value != 0 && value != i64::MAX as u64 {
            let start = bytes.iter().position(|b| *b != 0).unwrap_or(7);
            return Ok(SerialNumber::from_slice(&bytes[start..]));
        }
    }
}

/// The DER of the first certificate of a PEM file.
pub fn first_certificate(pem: &[u8]) -> Result<Vec<u8>, PkiError> {
    certificates(pem)?.into_iter().next().ok_or(PkiError::NoPem("CERTIFICATE"))
}

/// The DER of every `CERTIFICATE` block of a PEM text.
pub fn certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, PkiError> {
    let mut out = Vec::new();
    for block in x509_parser::pem::Pem::iter_from_buffer(pem) {
        let block = block.map_err(|_| PkiError::BadCertificate)?;
        if block.label == "CERTIFICATE" {
            X509Certificate::from_der(&block.contents).map_err(|_| PkiError::BadCertificate)?;
            out.push(block.contents);
        }
    }
    Ok(out)
}

/// Parses a DER certificate.
pub fn parse(der: &[u8]) -> Result<X509Certificate<'_>, PkiError> {
    X509Certificate::from_der(der).map(|(_, cert)| cert).map_err(|_| PkiError::BadCertificate)
}

/// Whether the certificate says CA:TRUE.
pub fn is_ca(der: &[u8]) -> Result<bool, PkiError> {
    Ok(parse(der)?.is_ca())
}

/// Whether `now` is within the certificate's validity.
pub fn check_validity(der: &[u8], now: SystemTime) -> Result<(), PkiError> {
    let cert = parse(der)?;
    let now = OffsetDateTime::from(now);
    let validity = cert.validity();
    if now < validity.not_before.to_datetime() || now > validity.not_after.to_datetime() {
        return Err(PkiError::OutOfValidity {
            now: now.to_string(),
            not_before: validity.not_before.to_string(),
            not_after: validity.not_after.to_string(),
        });
    }
    Ok(())
}

/// Whether `key` is the private half of the certificate's public key.
pub fn check_key_matches(der: &[u8], key: &KeyPair) -> Result<(), PkiError> {
    let cert = parse(der)?;
    if cert.public_key().raw == key.subject_public_key_info().as_slice() { Ok(()) } else { Err(PkiError::KeyMismatch) }
}

/// `VerifyCertChain(cert, nil, ca)` for a CA that signs directly: the issuer is the CA's subject
/// (byte for byte, as Go's pool lookup), the signature verifies with the CA's key, and both are
/// within their validity at `now`.
pub fn check_signed_by(der: &[u8], ca_der: &[u8], now: SystemTime) -> Result<(), PkiError> {
    let cert = parse(der)?;
    let ca = parse(ca_der)?;
    let not_signed = || PkiError::NotSignedBy { ca: ca.subject().to_string() };
    if cert.issuer().as_raw() != ca.subject().as_raw() {
        return Err(not_signed());
    }
    let algorithm = verification_algorithm(&cert, &ca).ok_or_else(not_signed)?;
    let public_key = ca.public_key().subject_public_key.data.as_ref();
    lc::UnparsedPublicKey::new(algorithm, public_key)
        .verify(cert.tbs_certificate.as_ref(), cert.signature_value.data.as_ref())
        .map_err(|_| not_signed())?;
    check_validity(ca_der, now)?;
    check_validity(der, now)
}

fn verification_algorithm(cert: &X509Certificate<'_>, ca: &X509Certificate<'_>) -> Option<&'static dyn lc::VerificationAlgorithm> {
    use x509_parser::oid_registry as oids;
    let signature = &cert.signature_algorithm.algorithm;
    let curve = ca.public_key().algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok());
    let p256 = curve.as_ref() == Some(&oids::OID_EC_P256);
    let p384 = curve.as_ref() == Some(&oids::OID_NIST_EC_P384);
    Some(match () {
        _ if *signature == oids::OID_PKCS1_SHA256WITHRSA => &lc::RSA_PKCS1_2048_8192_SHA256,
        _ if *signature == oids::OID_PKCS1_SHA384WITHRSA => &lc::RSA_PKCS1_2048_8192_SHA384,
        _ if *signature == oids::OID_PKCS1_SHA512WITHRSA => &lc::RSA_PKCS1_2048_8192_SHA512,
        _ if *signature == oids::OID_SIG_ECDSA_WITH_SHA256 && p256 => &lc::ECDSA_P256_SHA256_ASN1,
        _ if *signature == oids::OID_SIG_ECDSA_WITH_SHA256 && p384 => &lc::ECDSA_P384_SHA256_ASN1,
        _ if *signature == oids::OID_SIG_ECDSA_WITH_SHA384 && p256 => &lc::ECDSA_P256_SHA384_ASN1,
        _ if *signature == oids::OID_SIG_ECDSA_WITH_SHA384 && p384 => &lc::ECDSA_P384_SHA384_ASN1,
        _ => return None,
    })
}

/// The certificate's DNS and IP SANs.
pub fn alt_names(der: &[u8]) -> Result<(Vec<String>, Vec<IpAddr>), PkiError> {
    let cert = parse(der)?;
    let (mut dns_names, mut ips) = (Vec::new(), Vec::new());
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => dns_names.push((*dns).to_owned()),
                GeneralName::IPAddress(bytes) => match bytes.len() {
                    4 => ips.push(IpAddr::from(<[u8; 4]>::try_from(*bytes).map_err(|_| PkiError::BadCertificate)?)),
                    16 => ips.push(IpAddr::from(<[u8; 16]>::try_from(*bytes).map_err(|_| PkiError::BadCertificate)?)),
                    _ => return Err(PkiError::BadCertificate),
                },
                _ => {}
            }
        }
    }
    Ok((dns_names, ips))
}

/// kubeadm's `validateCertificateWithConfig`: the certificate must be valid (Go's
/// `VerifyHostname`) for every DNS name and IP the configuration asks for.
pub fn check_sans(der: &[u8], dns_names: &[String], ips: &[IpAddr]) -> Result<(), PkiError> {
    let (have_dns, have_ips) = alt_names(der)?;
    for name in dns_names {
        if !have_dns.iter().any(|pattern| hostname_matches(pattern, name)) {
            return Err(PkiError::MissingSan(name.clone()));
        }
    }
    for ip in ips {
        if !have_ips.iter().any(|have| have.to_canonical() == ip.to_canonical()) {
            return Err(PkiError::MissingSan(ip.to_string()));
        }
    }
    Ok(())
}

/// Case-insensitive match with a `*.` wildcard for the leftmost label only.
fn hostname_matches(pattern: &str, name: &str) -> bool {
    let (pattern, name) = (pattern.trim_end_matches('.').to_ascii_lowercase(), name.trim_end_matches('.').to_ascii_lowercase());
    if pattern == name {
        return true;
    }
    match (pattern.strip_prefix("*."), name.split_once('.')) {
        (Some(suffix), Some((label, rest))) => !label.is_empty() && label != "*" && rest == suffix,
        _ => false,
    }
}

/// PEM as Go's `pem.EncodeToMemory`: 64-column base64 lines, LF endings.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = base64_encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Standard base64 with padding (the `[]byte` encoding of Kubernetes JSON/YAML).
pub fn base64_encode(bytes: &[u8]) -> String {
    use base64::prelude::*;
    BASE64_STANDARD.encode(bytes)
}

/// Decodes standard base64 (whitespace ignored); `None` if malformed.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::prelude::*;
    let symbols: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    BASE64_STANDARD.decode(symbols).ok()
}

/// The `privateKey` OCTET STRING of a PKCS#8 `PrivateKeyInfo` (for RSA: the PKCS#1 key).
fn pkcs8_payload(pkcs8: &[u8]) -> Option<&[u8]> {
    let (0x30, info, _) = der_element(pkcs8)? else { return None };
    let (0x02, _version, rest) = der_element(info)? else { return None };
    let (0x30, _algorithm, rest) = der_element(rest)? else { return None };
    let (0x04, key, _) = der_element(rest)? else { return None };
    Some(key)
}

/// One DER element: (tag, contents, what follows).
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        (rest[..count].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b)), &rest[count..])
    };
    (rest.len() >= length).then(|| (tag, &rest[..length], &rest[length..]))
}
