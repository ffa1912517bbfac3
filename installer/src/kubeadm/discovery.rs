//! kubeadm's join discovery, the pure part (cmd/kubeadm/app/discovery/token/token.go,
//! util/pubkeypin, k8s.io/cluster-bootstrap/token/jws): the CA pins, the detached JWS over the
//! `cluster-info` kubeconfig that the controller-manager's bootstrap signer adds for each token,
//! and the cluster it names. The fetching is in `discovery/token.rs`.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::{Digest as _, Sha256};

pub mod token;

/// The ConfigMap (in `kube-public`) a joining node reads anonymously.
pub const CLUSTER_INFO: &str = "cluster-info";
/// Its key holding the kubeconfig.
pub const KUBECONFIG_KEY: &str = "kubeconfig";
/// Prefix of its keys holding each token's signature (`jws-kubeconfig-abcdef`).
pub const JWS_PREFIX: &str = "jws-kubeconfig-";
/// The user of the kubeconfig the kubelet's TLS bootstrap uses (kubeadm's `TokenUser`).
pub const TLS_BOOTSTRAP_USER: &str = "tls-bootstrap-token-user";

/// Why discovery refused the cluster.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// A `--discovery-token-ca-cert-hash` is not `sha256:` and 64 hex digits.
    #[error("invalid discovery token CA certificate hash `{hash}`: {reason}")]
    BadPin {
        /// The hash as given.
        hash: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The token is not `[a-z0-9]{6}.[a-z0-9]{16}`.
    #[error(
        "the bootstrap token `{0}` does not match [a-z0-9]{{6}}.[a-z0-9]{{16}}: pass the token `airadm token create` (or kubeadm's) printed"
    )]
    BadToken(String),
    /// No kubeconfig in cluster-info.
    #[error(
        "there is no kubeconfig key in the cluster-info ConfigMap. This API Server isn't set up for token bootstrapping, can't connect"
    )]
    NoKubeconfig,
    /// No signature for this token.
    #[error(
        "token id \"{0}\" is invalid for this cluster or it has expired. Use \"airadm token create\" (or \"kubeadm token create\") on the control-plane node to create a new valid token"
    )]
    NoSignature(String),
    /// The signature does not check with the token.
    #[error("failed to verify JWS signature of received cluster info object, can't trust this API Server: check the token's secret")]
    BadSignature,
    /// The kubeconfig does not parse or names no cluster.
    #[error("malformed kubeconfig in the cluster-info ConfigMap: {0}")]
    BadKubeconfig(String),
    /// No CA certificate's public key is pinned.
    #[error(
        "cluster CA found in cluster-info ConfigMap is invalid: none of the public keys \"{found}\" are pinned: check --discovery-token-ca-cert-hash against `airadm token create --print-join-command` on the control plane"
    )]
    NotPinned {
        /// The CA certificates' hashes.
        found: String,
    },
    /// The kubeconfig fetched over the pinned TLS is not the one the signature covered.
    #[error("the second kubeconfig from the cluster-info ConfigMap (using validated TLS) was different from the first")]
    Changed,
}

/// A bootstrap token, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// `abcdef`.
    pub id: String,
    /// `0123456789abcdef`.
    pub secret: String,
}

impl Token {
    /// kubeadm's `NewBootstrapTokenString`.
    pub fn parse(text: &str) -> Result<Self, DiscoveryError> {
        let bad = || DiscoveryError::BadToken(text.to_owned());
        let (id, secret) = text.split_once('.').ok_or_else(bad)?;
        let valid = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !valid(id, 6) || !valid(secret, 16) {
            return Err(bad());
        }
        Ok(Self { id: id.to_owned(), secret: secret.to_owned() })
    }
}

/// The public-key pins (`pubkeypin.Set`): sha256 of each CA's SubjectPublicKeyInfo.
#[derive(Debug, Clone, Default)]
pub struct Pins(Vec<[u8; 32]>);

impl Pins {
    /// kubeadm's `Allow`: every hash is `sha256:` (any case) and 64 hex digits.
    pub fn parse(hashes: &[String]) -> Result<Self, DiscoveryError> {
        let mut pins = Vec::new();
        for hash in hashes {
            let bad = |reason| DiscoveryError::BadPin { hash: hash.clone(), reason };
            let (format, value) = hash.split_once(':').ok_or_else(|| bad("expected \"format:hex-value\", known format(s) are: sha256"))?;
            if !format.eq_ignore_ascii_case("sha256") || value.contains(':') {
                return Err(bad("unknown hash format, known format(s) are: sha256"));
            }
            let bytes = hex::decode(value).map_err(|_| bad("the value is not hex"))?;
            pins.push(bytes.try_into().map_err(|_| bad("expected a 64-digit sha256 value"))?);
        }
        Ok(Self(pins))
    }

    /// No pins: `--discovery-token-unsafe-skip-ca-verification`.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// kubeadm's `CheckAny`: some certificate of `ca_pem` has a pinned public key.
    pub fn check_any(&self, ca_pem: &[u8]) -> Result<(), DiscoveryError> {
        let mut found = Vec::new();
        for pem in x509_parser::pem::Pem::iter_from_buffer(ca_pem) {
            let pem = pem.map_err(|e| DiscoveryError::BadKubeconfig(format!("its CA is not PEM: {e}")))?;
            let cert = pem.parse_x509().map_err(|e| DiscoveryError::BadKubeconfig(format!("its CA does not parse: {e}")))?;
            let hash: [u8; 32] = Sha256::digest(cert.public_key().raw).into();
            if self.0.contains(&hash) {
                return Ok(());
            }
            found.push(format!("sha256:{}", hex::encode(hash)));
        }
        Err(DiscoveryError::NotPinned { found: found.join(":") })
    }
}

/// The JWS the bootstrap signer computes (`jws.ComputeDetachedSignature`): HS256 keyed with the
/// token's secret over `content`, compact form with the payload left out (`header..signature`).
pub fn detached_signature(content: &str, token: &Token) -> String {
    // go-jose's protected header, keys sorted as Go marshals a map.
    let header = URL_SAFE_NO_PAD.encode(format!("{{\"alg\":\"HS256\",\"kid\":\"{}\"}}", token.id));
    format!("{header}..{}", URL_SAFE_NO_PAD.encode(sign(&header, content, token)))
}

/// The HMAC over `header.payload`.
fn sign(header: &str, content: &str, token: &Token) -> Vec<u8> {
    let payload = URL_SAFE_NO_PAD.encode(content);
    let mut mac = Hmac::<Sha256>::new_from_slice(token.secret.as_bytes()).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(format!("{header}.{payload}").as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// kubeadm's `validateClusterInfoToken`: `cluster-info` holds a kubeconfig and a signature for
/// this token, and the signature checks (`jws.DetachedTokenIsValid`). Returns the kubeconfig.
pub fn validate_cluster_info<'a>(data: &'a BTreeMap<String, String>, token: &Token) -> Result<&'a str, DiscoveryError> {
    let kubeconfig = data.get(KUBECONFIG_KEY).filter(|k| !k.is_empty()).ok_or(DiscoveryError::NoKubeconfig)?;
    let detached = data
        .get(&format!("{JWS_PREFIX}{}", token.id))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| DiscoveryError::NoSignature(token.id.clone()))?;
    // kubeadm recomputes the signature and compares it whole, in constant time.
    let expected = detached_signature(kubeconfig, token);
    let same = expected.len() == detached.len() && expected.bytes().zip(detached.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if !same {
        return Err(DiscoveryError::BadSignature);
    }
    Ok(kubeconfig)
}

/// The cluster a kubeconfig's current context names (kubeadm's `GetClusterFromKubeConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// Its name in the kubeconfig.
    pub name: String,
    /// `https://…`.
    pub server: String,
    /// `certificate-authority-data`, decoded.
    pub ca_pem: Vec<u8>,
}

/// Reads the cluster of `kubeconfig` (the current context's, else the only one).
pub fn cluster_of(kubeconfig: &str) -> Result<Cluster, DiscoveryError> {
    let bad = |reason: String| DiscoveryError::BadKubeconfig(reason);
    let config: serde_json::Value = serde_saphyr::from_str(kubeconfig).map_err(|e| bad(e.to_string()))?;
    let clusters = config["clusters"].as_array().ok_or_else(|| bad("it has no clusters".into()))?;
    let current = config["current-context"].as_str().unwrap_or_default();
    let context_cluster =
        config["contexts"].as_array().and_then(|c| c.iter().find(|c| c["name"] == current)).and_then(|c| c["context"]["cluster"].as_str());
    let entry = match context_cluster {
        Some(name) => clusters.iter().find(|c| c["name"] == name),
        None if clusters.len() == 1 => clusters.first(),
        None => None,
    }
    .ok_or_else(|| bad("its current context names no cluster".into()))?;
    let server = entry["cluster"]["server"].as_str().filter(|s| !s.is_empty()).ok_or_else(|| bad("its cluster has no server".into()))?;
    let ca = entry["cluster"]["certificate-authority-data"].as_str().unwrap_or_default();
    let ca_pem =
        base64::engine::general_purpose::STANDARD.decode(ca).map_err(|_| bad("certificate-authority-data is not base64".into()))?;
    Ok(Cluster { name: entry["name"].as_str().unwrap_or_default().to_owned(), server: server.to_owned(), ca_pem })
}

#[cfg(test)]
mod tests;
