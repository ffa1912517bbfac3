//! Trusted minisign public keys: `--trusted-key` files, else every `*.pub` in
//! `/etc/airadm/trusted-keys/`. There is no way to skip verification.
//!
//! Whoever can write a trusted key, or the directory holding it, can make airadm install their
//! bundle, so keys are refused as sshd's `StrictModes` refuses `authorized_keys`: a key file or its
//! directory that group or others may write, or that belongs to a user other than root or the one
//! running airadm. A directory with the sticky bit owned by root (`/tmp`) is accepted as a key's
//! directory: there, others cannot replace a file they do not own. The directories above are not
//! checked.

use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use bundle::PublicKey;
use bundle::signature::KeyError;

/// Where trusted keys live when no `--trusted-key` is given.
pub const TRUSTED_KEYS_DIR: &str = "/etc/airadm/trusted-keys";

/// The sticky bit (`S_ISVTX`).
const STICKY: u32 = 0o1000;

/// Trusted keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TrustedKeyError {
    /// A key file is unusable.
    #[error("trusted key: {0}")]
    Key(KeyError),
    /// Nothing to trust.
    #[error("no trusted key: pass the bundle signer's public key with --trusted-key KEY.pub, or install it as {dir}/NAME.pub")]
    None {
        /// The directory looked in.
        dir: String,
    },
    /// The directory exists but cannot be listed.
    #[error("failed to list trusted keys in `{}`: check that it is a readable directory", dir.display())]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A key or its directory could not be examined.
    #[error("failed to read trusted key `{}`", path.display())]
    Read {
        /// The key file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Group or others may write a key or its directory.
    #[error("{what} `{}` is writable by {who}, who could then make airadm trust their bundles: run `chmod go-w {}`", path.display(), path.display())]
    Writable {
        /// `trusted key` or `trusted key directory`.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// `group`, `others` or `group and others`.
        who: &'static str,
    },
    /// A key or its directory belongs to someone else.
    #[error("{what} `{}` belongs to uid {owner}, neither root nor you (uid {me}), who could then make airadm trust their bundles: run `chown root {}`", path.display(), path.display())]
    Owner {
        /// `trusted key` or `trusted key directory`.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The user running airadm.
        me: u32,
    },
}

/// Loads `flags`, or if empty every `*.pub` in `dir`.
pub fn load(flags: &[PathBuf], dir: &Path) -> Result<Vec<PublicKey>, TrustedKeyError> {
    let paths = if flags.is_empty() { keys_in(dir)? } else { flags.to_vec() };
    if paths.is_empty() {
        return Err(TrustedKeyError::None { dir: dir.display().to_string() });
    }
    paths.iter().map(|p| load_key(p)).collect()
}

fn keys_in(dir: &Path) -> Result<Vec<PathBuf>, TrustedKeyError> {
    let listing = |source| TrustedKeyError::Dir { dir: dir.to_owned(), source };
    let entries = match fs_err::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(source) => return Err(listing(source)),
    };
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.map_err(listing)?.path();
        if path.extension().is_some_and(|x| x == "pub") {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

/// Opens the key once, checks who may write it and its directory, then reads that same file.
fn load_key(path: &Path) -> Result<PublicKey, TrustedKeyError> {
    let read = |source| TrustedKeyError::Read { path: path.to_owned(), source };
    let mut file = fs_err::File::open(path).map_err(read)?;
    strict_mode("trusted key", path, &file.metadata().map_err(read)?, false)?;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let dir_metadata = fs_err::metadata(dir).map_err(|source| TrustedKeyError::Read { path: dir.to_owned(), source })?;
    strict_mode("trusted key directory", dir, &dir_metadata, true)?;
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(read)?;
    PublicKey::from_text(&text, &path.display().to_string()).map_err(TrustedKeyError::Key)
}

/// sshd's `StrictModes` (OpenSSH `auth.c` `auth_secure_path`): refused when group or others may
/// write it, or when it belongs to neither root nor the running user.
fn strict_mode(what: &'static str, path: &Path, metadata: &std::fs::Metadata, is_dir: bool) -> Result<(), TrustedKeyError> {
    let me = rustix::process::geteuid().as_raw();
    let owner = metadata.uid();
    let mode = metadata.mode();
    if owner != 0 && owner != me {
        return Err(TrustedKeyError::Owner { what, path: path.to_owned(), owner, me });
    }
    // A root-owned sticky directory (`/tmp`): others cannot rename or remove our file in it.
    if is_dir && owner == 0 && mode & STICKY != 0 {
        return Ok(());
    }
    let who = match (mode & 0o020 != 0, mode & 0o002 != 0) {
        (false, false) => return Ok(()),
        (true, false) => "group",
        (false, true) => "others",
        (true, true) => "group and others",
    };
    Err(TrustedKeyError::Writable { what, path: path.to_owned(), who })
}

#[cfg(test)]
mod tests;
