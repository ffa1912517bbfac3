//! Kubeconfig files as client-go's `clientcmd.Write` writes them (pure: names and PEM in, bytes out).

use serde_json::{Value, json};

use super::pki;

/// The first minor whose client-go leaves an empty `preferences` out of a kubeconfig
/// (`Preferences` became `omitzero` in k8s.io/client-go v0.34's clientcmd/api/v1).
pub const PREFERENCES_OMITTED_FROM: u32 = 34;

/// The PEM texts a kubeconfig embeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The CA certificate (`certificate-authority-data`).
    pub ca: String,
    /// The client certificate (`client-certificate-data`).
    pub cert: String,
    /// The client key (`client-key-data`).
    pub key: String,
}

/// kubeadm's `CreateWithCerts` written as client-go's `clientcmd.Write` does: one cluster named
/// after the cluster, one user, context `<user>@<cluster>` as current context, keys sorted,
/// `preferences: {}` before v1.34 ([`PREFERENCES_OMITTED_FROM`]), `[]byte` fields base64.
pub fn render(
    cluster_name: &str,
    server: &str,
    user: &str,
    credentials: &Credentials,
    minor: u32,
) -> Result<String, serde_saphyr::ser::Error> {
    let auth = json!({
        "client-certificate-data": pki::base64_encode(credentials.cert.as_bytes()),
        "client-key-data": pki::base64_encode(credentials.key.as_bytes()),
    });
    write(cluster_name, server, credentials.ca.as_bytes(), user, &format!("{user}@{cluster_name}"), auth, minor)
}

/// kubeadm's `CreateWithToken` written as [`render`] writes: the kubelet's bootstrap kubeconfig
/// (`bootstrap-kubelet.conf`), authenticating with a bootstrap token. kubeadm names the context
/// after the default cluster name `kubernetes` and renames only the cluster afterwards
/// (`fetchInitConfigurationFromJoinConfiguration`), so the context keeps `USER@kubernetes`.
pub fn render_token(
    cluster_name: &str,
    server: &str,
    user: &str,
    ca_pem: &[u8],
    token: &str,
    minor: u32,
) -> Result<String, serde_saphyr::ser::Error> {
    write(cluster_name, server, ca_pem, user, &format!("{user}@kubernetes"), json!({ "token": token }), minor)
}

/// One cluster, one user authenticating with `auth`, one context, as `clientcmd.Write` writes them.
pub(super) fn write(
    cluster_name: &str,
    server: &str,
    ca_pem: &[u8],
    user: &str,
    context: &str,
    auth: Value,
    minor: u32,
) -> Result<String, serde_saphyr::ser::Error> {
    let mut document: Value = json!({
        "apiVersion": "v1",
        "clusters": [{
            "cluster": {
                "certificate-authority-data": pki::base64_encode(ca_pem),
                "server": server,
            },
            "name": cluster_name,
        }],
        "contexts": [{
            "context": { "cluster": cluster_name, "user": user },
            "name": context,
        }],
        "current-context": context,
        "kind": "Config",
        "preferences": {},
        "users": [{ "name": user, "user": auth }],
    });
    if minor >= PREFERENCES_OMITTED_FROM {
        document.as_object_mut().map(|d| d.remove("preferences"));
    }
    // Long base64 lines stay plain scalars, as go-yaml writes them.
    let options = serde_saphyr::ser_options! { prefer_block_scalars: false };
    serde_saphyr::to_string_with_options(&document, options)
}
