//! `airadm version [-o short|json|yaml]`, shaped as `kubeadm version`: the release, the git
//! commit and tree state, the build date (the commit's), the compiler and the target.

use std::io::Write as _;

use serde::Serialize;

/// What the binary knows of itself (kubeadm's `version.Info`, for airadm).
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
    /// The Rust target triple (`x86_64-unknown-linux-gnu`).
    pub target: String,
    /// `linux/amd64`, as kubeadm names it.
    pub platform: String,
}

/// This binary's [`Info`].
pub fn info() -> Info {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    Info {
        major: env!("CARGO_PKG_VERSION_MAJOR").into(),
        minor: env!("CARGO_PKG_VERSION_MINOR").into(),
        git_version: format!("v{}", env!("CARGO_PKG_VERSION")),
        git_commit: env!("AIRADM_GIT_COMMIT").into(),
        git_tree_state: env!("AIRADM_GIT_TREE_STATE").into(),
        build_date: env!("AIRADM_BUILD_DATE").into(),
        compiler: "rustc".into(),
        target: env!("AIRADM_TARGET").into(),
        platform: format!("{}/{arch}", std::env::consts::OS),
    }
}

/// Prints `info()` as `-o` asks: kubeadm's `&version.Info{…}` line by default.
pub fn run(output: Option<&str>) -> anyhow::Result<()> {
    let info = info();
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Wrapped<'a> {
        client_version: &'a Info,
    }
    let text = match output {
        None | Some("") => format!(
            "airadm version: &version.Info{{Major:{:?}, Minor:{:?}, GitVersion:{:?}, GitCommit:{:?}, GitTreeState:{:?}, BuildDate:{:?}, Compiler:{:?}, Target:{:?}, Platform:{:?}}}\n",
            info.major,
            info.minor,
            info.git_version,
            info.git_commit,
            info.git_tree_state,
            info.build_date,
            info.compiler,
            info.target,
            info.platform
        ),
        Some("short") => format!("{}\n", info.git_version),
        Some("json") => serde_json::to_string_pretty(&Wrapped { client_version: &info })? + "\n",
        Some("yaml") => crate::kubeadm::yaml::to_yaml(&serde_json::to_value(Wrapped { client_version: &info })?),
        Some(other) => anyhow::bail!("invalid output format: {other}: use short, json or yaml"),
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}
