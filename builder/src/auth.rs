//! Registry credentials as docker, skopeo and crane find them: `$DOCKER_CONFIG/config.json` or
//! `~/.docker/config.json`, `auths.<host>.auth` (base64 `user:password`), and credential helpers
//! (`credHelpers.<host>`, `credsStore`) run as `docker-credential-<helper> get`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::prelude::*;
use serde::Deserialize;

/// Credentials for one registry host.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <redacted>)", self.username)
    }
}

/// A docker config file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unreadable or not JSON.
    #[error("docker config `{}` is malformed: fix or remove it", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// An `auth` field that is not base64 `user:password`.
    #[error("docker config `{}`: the `auth` of `{host}` is not base64 of `user:password`: run `docker login {host}` again", path.display())]
    BadAuth {
        /// The file.
        path: PathBuf,
        /// The registry.
        host: String,
    },
    /// A credential helper failed.
    #[error("credential helper `docker-credential-{helper}` failed for `{host}`: {reason}")]
    Helper {
        /// The helper.
        helper: String,
        /// The registry.
        host: String,
        /// Why.
        reason: String,
    },
    /// The file exists but cannot be read.
    #[error("failed to read docker config")]
    Read(#[source] std::io::Error),
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// The docker config in effect, loaded once.
#[derive(Debug, Default)]
pub struct DockerConfig {
    path: Option<PathBuf>,
    file: ConfigFile,
}

impl DockerConfig {
    /// Loads `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`; absent is empty.
    pub fn load_default() -> Result<Self, AuthError> {
        let dir = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker")));
        match dir {
            Some(dir) => Self::load(&dir.join("config.json")),
            None => Ok(Self::default()),
        }
    }

    /// Loads `path`; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<Self, AuthError> {
        let text = match fs_err::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(AuthError::Read(e)),
        };
        let file = serde_json::from_str(&text).map_err(|source| AuthError::Malformed { path: path.to_owned(), source })?;
        Ok(Self { path: Some(path.to_owned()), file })
    }

    /// Credentials for `host` (`registry.example:5000`), if the config has any.
    pub fn credentials(&self, host: &str) -> Result<Option<Credentials>, AuthError> {
        let keys = candidate_keys(host);
        if let Some(helper) = keys.iter().find_map(|k| self.file.cred_helpers.get(k)) {
            return run_helper(helper, host);
        }
        if let Some(entry) = keys.iter().find_map(|k| self.file.auths.get(k))
            && let Some(creds) = self.decode(entry, host)?
        {
            return Ok(Some(creds));
        }
        match &self.file.creds_store {
            Some(store) => run_helper(store, host),
            None => Ok(None),
        }
    }

    fn decode(&self, entry: &AuthEntry, host: &str) -> Result<Option<Credentials>, AuthError> {
        if let (Some(username), Some(password)) = (&entry.username, &entry.password) {
            return Ok(Some(Credentials { username: username.clone(), password: password.clone() }));
        }
        let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) else { return Ok(None) };
        let bad = || AuthError::BadAuth { path: self.path.clone().unwrap_or_default(), host: host.to_owned() };
        let decoded = BASE64_STANDARD.decode(auth.trim()).map_err(|_| bad())?;
        let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
        let (username, password) = decoded.split_once(':').ok_or_else(bad)?;
        Ok(Some(Credentials { username: username.to_owned(), password: password.to_owned() }))
    }
}

/// Keys docker writes for a host: the bare host, with scheme, and Docker Hub's legacy URL.
fn candidate_keys(host: &str) -> Vec<String> {
    let mut keys = vec![
        host.to_owned(),
        format!("https://{host}"),
        format!("http://{host}"),
        format!("https://{host}/v1/"),
        format!("https://{host}/v2/"),
    ];
    if matches!(host, "docker.io" | "index.docker.io" | "registry-1.docker.io") {
        keys.push("https://index.docker.io/v1/".to_owned());
    }
    keys
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperOutput {
    username: String,
    secret: String,
}

fn run_helper(helper: &str, host: &str) -> Result<Option<Credentials>, AuthError> {
    let failed = |reason: String| AuthError::Helper { helper: helper.to_owned(), host: host.to_owned(), reason };
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot run `{program}`: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(host.as_bytes()).map_err(|e| failed(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| failed(e.to_string()))?;
    if !out.status.success() {
        let stdout = String::from_utf8_lossy(&out.stdout);
        // Helpers report "credentials not found" on stdout with a failure status.
        if stdout.contains("credentials not found") {
            return Ok(None);
        }
        return Err(failed(format!("{} {}", stdout.trim(), String::from_utf8_lossy(&out.stderr).trim())));
    }
    let parsed: HelperOutput = serde_json::from_slice(&out.stdout).map_err(|e| failed(format!("unexpected output: {e}")))?;
    Ok(Some(Credentials { username: parsed.username, password: parsed.secret }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> DockerConfig {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs_err::write(&path, json).unwrap();
        DockerConfig::load(&path).unwrap()
    }

    #[test]
    fn reads_base64_auth_for_host_with_and_without_scheme() {
        let auth = BASE64_STANDARD.encode("alice:s3:cret");
        let c = config(&format!(r#"{{"auths":{{"https://mirror.example:5000":{{"auth":"{auth}"}}}}}}"#));
        let creds = c.credentials("mirror.example:5000").unwrap().unwrap();
        assert_eq!((creds.username.as_str(), creds.password.as_str()), ("alice", "s3:cret"));
        assert_eq!(c.credentials("other.example").unwrap(), None);
    }

    #[test]
    fn docker_hub_uses_the_legacy_key() {
        let auth = BASE64_STANDARD.encode("bob:pw");
        let c = config(&format!(r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{auth}"}}}}}}"#));
        assert_eq!(c.credentials("docker.io").unwrap().unwrap().username, "bob");
    }

    #[test]
    fn malformed_auth_names_the_host() {
        let c = config(r#"{"auths":{"r.example":{"auth":"!!!"}}}"#);
        let err = c.credentials("r.example").unwrap_err().to_string();
        assert!(err.contains("r.example") && err.contains("docker login"), "{err}");
    }

    #[test]
    fn missing_file_is_empty_and_garbage_is_an_error() {
        assert!(DockerConfig::load(Path::new("/nonexistent/config.json")).unwrap().credentials("x").unwrap().is_none());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs_err::write(&path, "{not json").unwrap();
        assert!(matches!(DockerConfig::load(&path), Err(AuthError::Malformed { .. })));
    }
}
