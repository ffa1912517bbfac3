//! What `airadm version` and `airbundle version` print, shaped as `kubeadm version`: the release,
//! the git commit and tree state, the build date (the commit's), the compiler and the target.
//!
//! Each program's build script sets the environment (`bundle/build_info.rs`, shared by both) and
//! [`build_info!`](crate::build_info!) reads it where the program is compiled.

use serde::Serialize;

/// What a binary knows of itself (kubeadm's `version.Info`, for airadm and airbundle).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    /// `0`.
    pub major: String,
    /// `1`.
    pub minor: String,
    /// `v0.1.0`.
    pub git_version: String,
    /// The commit it was built from (empty outside a git checkout).
    pub git_commit: String,
    /// `clean` or `dirty`.
    pub git_tree_state: String,
    /// The commit's date (`SOURCE_DATE_EPOCH` when set), RFC 3339 in UTC.
    pub build_date: String,
    /// `rustc`.
    pub compiler: String,
    /// The Rust target triple (`x86_64-unknown-linux-musl`).
    pub target: String,
    /// `linux/amd64`, as kubeadm names it.
    pub platform: String,
}

/// The calling program's [`Info`], from what its build script embedded.
#[macro_export]
macro_rules! build_info {
    () => {
        $crate::build_info::Info::new(
            env!("CARGO_PKG_VERSION"),
            env!("AIRADM_GIT_COMMIT"),
            env!("AIRADM_GIT_TREE_STATE"),
            env!("AIRADM_BUILD_DATE"),
            env!("AIRADM_TARGET"),
        )
    };
}

/// `--version`'s text for clap (`airbundle v0.1.0 (commit …, target …, built …)`): one line
/// made at compile time from what the program's build script embedded.
#[macro_export]
macro_rules! long_version {
    () => {
        concat!(
            "v",
            env!("CARGO_PKG_VERSION"),
            " (commit ",
            env!("AIRADM_GIT_COMMIT"),
            ", tree ",
            env!("AIRADM_GIT_TREE_STATE"),
            ", target ",
            env!("AIRADM_TARGET"),
            ", built ",
            env!("AIRADM_BUILD_DATE"),
            ")"
        )
    };
}

impl Info {
    /// An `Info` from the release (`0.1.0`) and the build script's values; the platform is the
    /// one this code runs as.
    pub fn new(release: &str, commit: &str, tree_state: &str, build_date: &str, target: &str) -> Self {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        let mut parts = release.split('.');
        Info {
            major: parts.next().unwrap_or_default().into(),
            minor: parts.next().unwrap_or_default().into(),
            git_version: format!("v{release}"),
            git_commit: commit.into(),
            git_tree_state: tree_state.into(),
            build_date: build_date.into(),
            compiler: "rustc".into(),
            target: target.into(),
            platform: format!("{}/{arch}", std::env::consts::OS),
        }
    }

    /// The text `PROGRAM version -o OUTPUT` prints: kubeadm's `&version.Info{…}` line by default,
    /// `short`, `json`, or `yaml` (written by `yaml`, so each program keeps its own YAML style).
    pub fn render(&self, program: &str, output: Option<&str>, yaml: impl FnOnce(&serde_json::Value) -> String) -> Result<String, String> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Wrapped<'a> {
            client_version: &'a Info,
        }
        let wrapped = || serde_json::to_value(Wrapped { client_version: self }).unwrap_or_default();
        Ok(match output {
            None | Some("") => format!(
                "{program} version: &version.Info{{Major:{:?}, Minor:{:?}, GitVersion:{:?}, GitCommit:{:?}, GitTreeState:{:?}, BuildDate:{:?}, Compiler:{:?}, Target:{:?}, Platform:{:?}}}\n",
                self.major,
                self.minor,
                self.git_version,
                self.git_commit,
                self.git_tree_state,
                self.build_date,
                self.compiler,
                self.target,
                self.platform
            ),
            Some("short") => format!("{}\n", self.git_version),
            Some("json") => serde_json::to_string_pretty(&wrapped()).unwrap_or_default() + "\n",
            Some("yaml") => yaml(&wrapped()),
            Some(other) => return Err(format!("invalid output format: {other}: use short, json or yaml")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_release_splits_into_kubeadms_fields() {
        let info = Info::new("0.12.3", "abc", "clean", "2026-12-07T00:00:00Z", "aarch64-unknown-linux-musl");
        assert_eq!((info.major.as_str(), info.minor.as_str(), info.git_version.as_str()), ("0", "12", "v0.12.3"));
        let json: serde_json::Value = serde_json::from_str(&info.render("x", Some("json"), |_| String::new()).unwrap()).unwrap();
        assert_eq!(json["clientVersion"]["target"], "aarch64-unknown-linux-musl");
        assert_eq!(json["clientVersion"]["buildDate"], "2026-12-07T00:00:00Z");
        let line = info.render("airbundle", None, |_| String::new()).unwrap();
        assert!(
            line.starts_with("airbundle version: &version.Info{Major:\"0\", Minor:\"12\", GitVersion:\"v0.12.3\", GitCommit:\"abc\""),
            "{line}"
        );
        assert_eq!(info.render("x", Some("yaml"), |v| v["clientVersion"]["gitCommit"].to_string()).unwrap(), "\"abc\"");
        assert!(info.render("x", Some("xml"), |_| String::new()).unwrap_err().contains("invalid output format: xml"));
    }
}
