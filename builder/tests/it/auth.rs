//! Registries behind Bearer-token auth: anonymous pulls (registry.k8s.io's flow) and private
//! registries with docker-config credentials.

use std::path::Path;
use std::process::Command;

use base64::prelude::*;
use testkit::image::CATALOG_V1_31_2;
use testkit::registry::http_status;
use testkit::{TokenRegistry, run_fails, run_ok, seed_catalog_as};

use crate::airbundle;

fn build(registry: &TokenRegistry, home: &Path) -> Command {
    run_ok(airbundle().args(["keygen", "--force", "--name", "k", "--output-dir"]).arg(home));
    let mut cmd = airbundle();
    cmd.args([
        "build",
        "--kubernetes-version",
        "v1.31.2",
        "--arch",
        "amd64",
        "--plain-http",
        "--quiet",
        "--no-binaries",
        "--mirror",
        registry.registry.addr(),
    ])
    .arg("--signing-key")
    .arg(home.join("k.key"))
    .arg("--output-dir")
    .arg(home.join("out"))
    .arg("--cache-dir")
    .arg(home.join("cache"))
    .env("HOME", home)
    .env_remove("DOCKER_CONFIG");
    cmd
}

#[test]
fn pulls_anonymously_through_the_bearer_token_flow() {
    let registry = TokenRegistry::start(true);
    seed_catalog_as(registry.registry.addr(), CATALOG_V1_31_2, 5_000, Some(&registry.creds()));
    assert_eq!(http_status(registry.registry.addr(), "/v2/"), 401, "the registry must demand a token");
    let home = tempfile::tempdir().unwrap();
    run_ok(build(&registry, home.path()));
    assert!(home.path().join("out/kubernetes-v1.31.2-linux-amd64.tar.zst").is_file());
}

#[test]
fn private_registry_needs_and_uses_docker_config_credentials() {
    let registry = TokenRegistry::start(false);
    let addr = registry.registry.addr().to_owned();
    seed_catalog_as(&addr, CATALOG_V1_31_2, 5_000, Some(&registry.creds()));
    let home = tempfile::tempdir().unwrap();
    let err = run_fails(build(&registry, home.path()));
    assert!(err.contains(&format!("registry `{addr}` refused access")) && err.contains(&format!("docker login {addr}")), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    let docker = home.path().join("docker");
    fs_err::create_dir_all(&docker).unwrap();
    let auth = BASE64_STANDARD.encode(registry.creds());
    fs_err::write(docker.join("config.json"), format!(r#"{{"auths":{{"{addr}":{{"auth":"{auth}"}}}}}}"#)).unwrap();
    run_ok(build(&registry, home.path()).env("DOCKER_CONFIG", &docker));
    assert!(home.path().join("out/kubernetes-v1.31.2-linux-amd64.tar.zst").is_file());
}
