//! `EntryPath`: a bundle entry's path, proven relative, normalised and free of `..`.

use std::fmt;

/// A path inside a bundle: relative, `/`-separated, UTF-8, with no empty, `.` or `..`
/// components and no backslash or NUL. Anything else is refused before it touches a disk.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryPath(String);

/// Why a path cannot be a bundle entry.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EntryPathError {
    /// Starts with `/`.
    #[error("entry `{0}` is an absolute path")]
    Absolute(String),
    /// Has a `..` component.
    #[error("entry `{0}` has a `..` component")]
    ParentDir(String),
    /// Empty, `.` component, `//`, backslash, NUL or too long.
    #[error("entry `{0}` is not a normalised relative path")]
    NotNormal(String),
}

/// Longest path we accept: far above anything the format produces (`oci/blobs/sha256/<64>`).
const MAX_LEN: usize = 255;

impl EntryPath {
    /// Checks `path` and wraps it.
    pub fn new(path: &str) -> Result<Self, EntryPathError> {
        if path.starts_with('/') {
            return Err(EntryPathError::Absolute(path.to_owned()));
        }
        if path.split('/').any(|c| c == "..") {
            return Err(EntryPathError::ParentDir(path.to_owned()));
        }
        let normal =
            !path.is_empty() && path.len() <= MAX_LEN && !path.contains(['\\', '\0']) && path.split('/').all(|c| !c.is_empty() && c != ".");
        if !normal {
            return Err(EntryPathError::NotNormal(path.to_owned()));
        }
        Ok(Self(path.to_owned()))
    }

    /// The path as written in the archive.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EntryPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EntryPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl serde::Serialize for EntryPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for EntryPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::new(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_layout_paths() {
        for ok in ["airbundle.json", "oci/index.json", "oci/blobs/sha256/ab", "configs/crio/10-airadm.conf", "a..b"] {
            assert_eq!(EntryPath::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_absolute_parent_and_unnormalised_paths() {
        assert!(matches!(EntryPath::new("/etc/x"), Err(EntryPathError::Absolute(_))));
        assert!(matches!(EntryPath::new("../x"), Err(EntryPathError::ParentDir(_))));
        assert!(matches!(EntryPath::new("oci/../../x"), Err(EntryPathError::ParentDir(_))));
        for bad in ["", "./x", "a//b", "a/", "a/./b", "a\\b", "a\0b", &"x".repeat(300)] {
            assert!(matches!(EntryPath::new(bad), Err(EntryPathError::NotNormal(_))), "{bad:?}");
        }
    }
}
