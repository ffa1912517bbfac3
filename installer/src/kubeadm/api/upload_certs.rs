//! `upload-certs` (kubeadm: cmd/kubeadm/app/phases/copycerts/copycerts.go,
//! util/crypto/crypto.go): the control-plane CAs and keys, AES-256-GCM encrypted with the
//! certificate key, in Secret `kubeadm-certs`, owned by a 2-hour bootstrap token so the garbage
//! collector deletes both together.

use std::collections::BTreeMap;
use std::time::SystemTime;

use aes_gcm::aead::{Aead, Generate, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use bundle::kubeadm::BootstrapToken;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Client;
use kube::api::Api;

use super::{
    ApiError, KUBE_SYSTEM, NODE_BOOTSTRAP_TOKEN_GROUP, apply_read_access, create_or_update, group, meta, read_access, request_error,
};
use super::{token_secret_name, update_or_create_tokens};
use crate::kubeadm::config::InitConfig;
use crate::kubeadm::files::{PRIVATE, PUBLIC, Root};

/// `KubeadmCertsSecret`.
pub const KUBEADM_CERTS: &str = "kubeadm-certs";
/// `KubeadmCertsClusterRoleName` (a Role and a RoleBinding in kube-system).
pub const KUBEADM_CERTS_ROLE: &str = "kubeadm:kubeadm-certs";
/// The description of the token that owns `kubeadm-certs`.
pub const CERT_TOKEN_DESCRIPTION: &str = "Proxy for managing TTL for the kubeadm-certs secret";
/// `DefaultCertTokenDuration`.
pub const CERT_TOKEN_TTL: &str = "2h0m0s";

/// `CreateCertificateKey`: 32 random bytes as 64 lowercase hex characters (when init is given
/// `--upload-certs` without `--certificate-key`).
pub fn create_certificate_key() -> String {
    let key: aes_gcm::Key<Aes256Gcm> = aes_gcm::Key::<Aes256Gcm>::generate();
    hex::encode(key)
}

/// Decodes `--certificate-key` (64 hex characters).
pub fn decode_certificate_key(key: &str) -> Result<[u8; 32], ApiError> {
    hex::decode(key).ok().and_then(|bytes| bytes.try_into().ok()).ok_or(ApiError::CertificateKey)
}

/// `cryptoutil.EncryptBytes` with a given nonce: `nonce(12) || ciphertext || tag(16)`, no AAD;
/// `what` names the entry in the error (AES-GCM refuses a plaintext past 64 GiB).
pub fn encrypt_with_nonce(data: &[u8], key: &[u8; 32], nonce: [u8; 12], what: &str) -> Result<Vec<u8>, ApiError> {
    let cipher = Aes256Gcm::new(key.into());
    let nonce = Nonce::from(nonce);
    let mut out = nonce.to_vec();
    out.extend(cipher.encrypt(&nonce, data).map_err(|_| ApiError::Encrypt { what: what.into(), size: data.len() })?);
    Ok(out)
}

/// `cryptoutil.EncryptBytes`: a random nonce.
pub fn encrypt(data: &[u8], key: &[u8; 32], what: &str) -> Result<Vec<u8>, ApiError> {
    let nonce: Nonce<aes_gcm::aead::consts::U12> = Nonce::generate();
    encrypt_with_nonce(data, key, nonce.into(), what)
}

/// `cryptoutil.DecryptBytes`; `what` names the entry in the error.
pub fn decrypt(blob: &[u8], key: &[u8; 32], what: &str) -> Result<Vec<u8>, ApiError> {
    let fail = || ApiError::Decrypt(what.into());
    if blob.len() < 12 {
        return Err(fail());
    }
    let (nonce, sealed) = blob.split_at(12);
    let nonce = Nonce::try_from(nonce).map_err(|_| fail())?;
    Aes256Gcm::new(key.into()).decrypt(&nonce, sealed).map_err(|_| fail())
}

/// `certsToTransfer`: Secret key (`certOrKeyNameToSecretName`, `/` → `-`) and node path, sorted.
pub fn certs_to_transfer(cfg: &InitConfig) -> Vec<(String, String)> {
    let mut names = vec!["ca.crt", "ca.key", "front-proxy-ca.crt", "front-proxy-ca.key", "sa.pub", "sa.key"];
    let mut certs: Vec<(String, String)> = Vec::new();
    match &cfg.etcd.external {
        None => names.extend(["etcd/ca.crt", "etcd/ca.key"]),
        Some(external) => {
            for (key, file) in [
                ("external-etcd-ca.crt", &external.ca_file),
                ("external-etcd.crt", &external.cert_file),
                ("external-etcd.key", &external.key_file),
            ] {
                certs.push((key.into(), file.clone().unwrap_or_default()));
            }
        }
    }
    certs.extend(names.into_iter().map(|name| (name.replace('/', "-"), cfg.cert_path(name))));
    certs.sort();
    certs
}

/// `metav1.NewControllerRef(secret, {Version: v1, Kind: Secret})`.
pub fn owner_reference(owner: &Secret) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "Secret".into(),
        name: owner.metadata.name.clone().unwrap_or_default(),
        uid: owner.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Secret `kubeadm-certs`: `data` already encrypted (an absent file is an empty value).
pub fn kubeadm_certs_secret(data: BTreeMap<String, Vec<u8>>, owner: &Secret) -> Secret {
    let mut metadata = meta(Some(KUBE_SYSTEM), KUBEADM_CERTS);
    metadata.owner_references = Some(vec![owner_reference(owner)]);
    Secret { metadata, data: Some(data.into_iter().map(|(k, v)| (k, ByteString(v))).collect()), ..Default::default() }
}

/// Role + RoleBinding `kubeadm:kubeadm-certs`: bootstrap tokens may read `kubeadm-certs`.
pub fn kubeadm_certs_access() -> (Role, RoleBinding) {
    read_access(KUBE_SYSTEM, KUBEADM_CERTS_ROLE, "secrets", KUBEADM_CERTS, vec![group(NODE_BOOTSTRAP_TOKEN_GROUP)])
}

/// The short-lived token `createShortLivedBootstrapToken` makes (no usages, no groups).
pub fn cert_token(token: &str) -> BootstrapToken {
    BootstrapToken {
        token: Some(token.into()),
        description: Some(CERT_TOKEN_DESCRIPTION.into()),
        ttl: Some(CERT_TOKEN_TTL.into()),
        ..Default::default()
    }
}

/// Reads and encrypts [`certs_to_transfer`]; a missing file gives an empty value, as kubeadm
/// (`getDataFromDisk`: `os.IsNotExist` is not an error, and an unset external etcd file is `""`,
/// which does not exist either). Any other read or encryption failure is an error naming the file.
pub fn encrypted_files(cfg: &InitConfig, root: &Root, key: &[u8; 32]) -> Result<BTreeMap<String, Vec<u8>>, ApiError> {
    let mut data = BTreeMap::new();
    for (name, path) in certs_to_transfer(cfg) {
        let bytes = if path.is_empty() { None } else { root.read(&path).map_err(|source| ApiError::Io { path: path.clone(), source })? };
        let sealed = match bytes {
            Some(bytes) => encrypt(&bytes, key, &path)?,
            None => Vec::new(),
        };
        data.insert(name, sealed);
    }
    Ok(data)
}

/// The `upload-certs` phase (`UploadCerts`): `token` is a fresh random token
/// ([`crate::kubeadm::config::generate_token`]), `certificate_key` the 64-hex key.
pub async fn upload_certs(
    client: &Client,
    cfg: &InitConfig,
    root: &Root,
    certificate_key: &str,
    token: &str,
    now: SystemTime,
) -> Result<Vec<String>, ApiError> {
    let mut out = vec![format!("[upload-certs] Storing the certificates in Secret {KUBEADM_CERTS:?} in the {KUBE_SYSTEM:?} Namespace")];
    let key = decode_certificate_key(certificate_key)?;
    let token = cert_token(token);
    update_or_create_tokens(client, true, std::slice::from_ref(&token), now).await?;
    let data = encrypted_files(cfg, root, &key)?;
    let (id, _) = super::split_token(&token)?;
    let owner_meta = meta(Some(KUBE_SYSTEM), &token_secret_name(id));
    let api: Api<Secret> = Api::namespaced(client.clone(), KUBE_SYSTEM);
    let owner = api.get(&token_secret_name(id)).await.map_err(|e| request_error::<Secret>("get", &owner_meta, e))?;
    create_or_update(&api, &kubeadm_certs_secret(data, &owner)).await?;
    apply_read_access(client, kubeadm_certs_access()).await?;
    out.push("[upload-certs] Using certificate key:".into());
    out.push(certificate_key.into());
    Ok(out)
}

/// The `download-certs` phase (`DownloadCerts`): reads Secret `kubeadm-certs` with `client` (the
/// TLS bootstrap token may, through [`kubeadm_certs_access`]), decrypts every entry with the
/// certificate key and writes each non-empty one to its place under `cfg.cert_dir` (keys 0600,
/// certificates and public keys 0644, as `writeCertOrKey`). Nothing is written unless every
/// entry decrypts.
pub async fn download_certs(client: &Client, cfg: &InitConfig, root: &Root, certificate_key: &str) -> Result<Vec<String>, ApiError> {
    let mut out =
        vec![format!("[download-certs] Downloading the certificates in Secret {KUBEADM_CERTS:?} in the {KUBE_SYSTEM:?} Namespace")];
    let key = decode_certificate_key(certificate_key)?;
    let api: Api<Secret> = Api::namespaced(client.clone(), KUBE_SYSTEM);
    let secret_meta = meta(Some(KUBE_SYSTEM), KUBEADM_CERTS);
    let secret = api.get_opt(KUBEADM_CERTS).await.map_err(|e| request_error::<Secret>("get", &secret_meta, e))?.ok_or_else(|| {
        ApiError::Invalid {
            path: format!("Secret {KUBE_SYSTEM}/{KUBEADM_CERTS}"),
            reason: "not found. This Secret might have expired. Please, run `airadm init phase upload-certs --upload-certs` (or kubeadm's) on a control plane to generate a new one".into(),
        }
    })?;
    let data = secret.data.unwrap_or_default();
    let mut files = Vec::new();
    for (name, path) in certs_to_transfer(cfg) {
        let sealed = data.get(&name).ok_or_else(|| ApiError::Invalid {
            path: format!("Secret {KUBE_SYSTEM}/{KUBEADM_CERTS}"),
            reason: format!("the Secret does not include the required certificate or key - name: {name}, path: {path}"),
        })?;
        if sealed.0.is_empty() {
            continue;
        }
        let plain = decrypt(&sealed.0, &key, &name)?;
        let mode = if String::from_utf8_lossy(&plain).contains("PRIVATE KEY-----") { PRIVATE } else { PUBLIC };
        files.push((path, plain, mode));
    }
    out.push(format!("[download-certs] Saving the certificates to the folder: {:?}", cfg.cert_dir));
    for (path, bytes, mode) in files {
        root.write(&path, &bytes, mode).map_err(|source| ApiError::Io { path, source })?;
    }
    Ok(out)
}
