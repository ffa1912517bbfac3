//! Trusted minisign public keys: `--trusted-key` files, else every `*.pub` in
//! `/etc/airadm/trusted-keys/`. There is no way to skip verification.

use std::path::{Path, PathBuf};

use bundle::PublicKey;
use bundle::signature::KeyError;

/// Where trusted keys live when no `--trusted-key` is given.
pub const TRUSTED_KEYS_DIR: &str = "/etc/airadm/trusted-keys";

/// Trusted keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TrustedKeyError {
    /// A key file is unusable.
    #[error("--trusted-key {0}")]
    Key(KeyError),
    /// Nothing to trust.
    #[error("no trusted key: pass the bundle signer's public key with --trusted-key KEY.pub, or install it as {dir}/NAME.pub")]
    None {
        /// The directory looked in.
        dir: String,
    },
    /// The directory exists but cannot be listed.
    #[error("failed to list trusted keys in `{}`", dir.display())]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Loads `flags`, or if empty every `*.pub` in `dir`.
pub fn load(flags: &[PathBuf], dir: &Path) -> Result<Vec<PublicKey>, TrustedKeyError> {
    let paths = if flags.is_empty() { keys_in(dir)? } else { flags.to_vec() };
    if paths.is_empty() {
        return Err(TrustedKeyError::None { dir: dir.display().to_string() });
    }
    paths.iter().map(|p| PublicKey::from_file(p).map_err(TrustedKeyError::Key)).collect()
}

fn keys_in(dir: &Path) -> Result<Vec<PathBuf>, TrustedKeyError> {
    let entries = match fs_err::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(source) => return Err(TrustedKeyError::Dir { dir: dir.to_owned(), source }),
    };
    let mut paths: Vec<PathBuf> =
        entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "pub")).collect();
    paths.sort();
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_anywhere_says_how_to_provide_one() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(&[], dir.path()).unwrap_err().to_string();
        assert!(err.contains("--trusted-key") && err.contains(&dir.path().display().to_string()), "{err}");
    }

    #[test]
    fn directory_keys_are_used_when_no_flag_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let pair = bundle::signature::generate_key_pair(None, "t").unwrap();
        fs_err::write(dir.path().join("release.pub"), &pair.public).unwrap();
        fs_err::write(dir.path().join("README"), "not a key").unwrap();
        let keys = load(&[], dir.path()).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].key_id(), pair.key_id);
    }

    #[test]
    fn unreadable_flag_names_the_file() {
        let err = load(&[PathBuf::from("/nonexistent/k.pub")], Path::new("/x")).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/k.pub"), "{err}");
    }
}
