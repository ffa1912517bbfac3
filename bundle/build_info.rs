//! The build-script half of `bundle::build_info`, shared by `installer/build.rs` and
//! `builder/build.rs` (each includes this file with `#[path]`): sets the environment that
//! `bundle::build_info!()` reads in each program, that is the git commit the binary was built
//! from, whether the tree had changes, the commit's date as the build date (the same for every
//! build of a commit; `SOURCE_DATE_EPOCH` overrides it, as reproducible-builds.org defines) and
//! the Rust target. Nothing here may fail the build (a tarball has no .git).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .env("TZ", "UTC")
        .current_dir(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()))
        .output()
        .ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Prints the `cargo::` lines; call it from the build script's `main`.
pub fn emit() {
    // The commit (HEAD, its branch, packed refs), staged changes (the index) and edits to what
    // the programs are built from: the tree state follows them (a file that does not exist would
    // rerun this on every build, so only existing ones are named).
    let reference = git(&["symbolic-ref", "-q", "HEAD"]);
    let git_files = ["HEAD", "index", "packed-refs"].into_iter().map(str::to_owned).chain(reference);
    let git_paths = git_files.filter_map(|name| git(&["rev-parse", "--path-format=absolute", "--git-path", &name]));
    let workspace = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into())).join("..");
    let sources = ["Cargo.toml", "Cargo.lock", "bundle/src", "builder/src", "installer/src", "manifests"]
        .map(|p| workspace.join(p).display().to_string());
    for path in git_paths.chain(sources) {
        if std::path::Path::new(&path).exists() {
            println!("cargo::rerun-if-changed={path}");
        }
    }
    println!("cargo::rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_default();
    let state = match git(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(changes) if changes.is_empty() => "clean",
        Some(_) => "dirty",
        None => "",
    };
    let date = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(epoch) => Command::new("date")
            .args(["-u", "-d", &format!("@{epoch}"), "+%Y-%m-%dT%H:%M:%SZ"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or(epoch),
        Err(_) => git(&["log", "-1", "--date=format-local:%Y-%m-%dT%H:%M:%SZ", "--format=%cd"]).unwrap_or_default(),
    };
    println!("cargo::rustc-env=AIRADM_GIT_COMMIT={commit}");
    println!("cargo::rustc-env=AIRADM_GIT_TREE_STATE={state}");
    println!("cargo::rustc-env=AIRADM_BUILD_DATE={date}");
    println!("cargo::rustc-env=AIRADM_TARGET={}", std::env::var("TARGET").unwrap_or_default());
}
