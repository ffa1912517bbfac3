//! Bundles stay readable with standard tools, and keys interoperate with the minisign CLI.

use std::process::Command;

use testkit::{require, run_fails, run_ok, tar_extract, tar_listing};

use crate::{World, airadm, airbundle, bundle_file};

#[test]
fn standard_tools_read_the_bundle_and_airadm_verifies_it() {
    let w = World::new(30_000);
    let (key, public) = w.keygen("release");
    let out = w.path("out");
    run_ok(w.build(&key, "arm64", &out, &[]));
    let bundle = bundle_file(&out, "arm64");

    // zstd -dc | tar t: manifest, its signature, then every other entry sorted.
    let listing = tar_listing(&bundle);
    assert_eq!(&listing[..2], ["airbundle.json", "airbundle.json.minisig"]);
    let rest = &listing[2..];
    let mut sorted = rest.to_vec();
    sorted.sort();
    assert_eq!(rest, sorted);
    assert!(
        rest.contains(&"oci/oci-layout".to_owned())
            && rest.contains(&"oci/index.json".to_owned())
            && rest.contains(&"configs/kubeadm-config.yaml".to_owned())
    );

    // skopeo reads every image of the extracted layout, with the platform digest we recorded.
    let x = w.path("x");
    tar_extract(&bundle, &x);
    let manifest: serde_json::Value = serde_json::from_slice(&fs_err::read(x.join("airbundle.json")).unwrap()).unwrap();
    let skopeo = require("skopeo", "skopeo");
    let mut wrapped = 0;
    for (image, pushed) in manifest["images"].as_array().unwrap().iter().zip(&w.pushed) {
        let name = image["name"].as_str().unwrap();
        let source = format!("oci:{}:{name}", x.join("oci").display());
        let out = run_ok(Command::new(&skopeo).args(["inspect", "--override-arch", "arm64"]).arg(&source));
        let inspected: serde_json::Value = serde_json::from_str(&out).unwrap();
        // skopeo names the descriptor index.json points to: the platform manifest, or the OCI
        // index a Docker schema 2 manifest (pause, pushed as v2s2) is wrapped in.
        let top = if image["ociIndex"].is_string() {
            wrapped += 1;
            &image["ociIndex"]
        } else {
            &image["digest"]
        };
        assert_eq!(inspected["Digest"], *top, "{name}");
        assert_eq!(inspected["Architecture"], "arm64", "{name}");
        assert_eq!(image["digest"].as_str().unwrap(), pushed.manifests["arm64"], "upstream digest kept");
        // skopeo copy re-checks every blob digest of the image.
        run_ok(
            Command::new(&skopeo)
                .args(["copy", "--quiet", "--override-arch", "arm64"])
                .arg(&source)
                .arg(format!("oci:{}:copy", w.path("copy").display())),
        );
    }
    assert_eq!(wrapped, 1, "the Docker-format pause image is wrapped, the OCI ones are not");

    // minisign verifies the detached signature of the file and the manifest's signature.
    let minisign = require("minisign", "minisign");
    let out = run_ok(Command::new(&minisign).arg("-Vm").arg(&bundle).arg("-p").arg(&public));
    assert!(out.contains("kubernetes=v1.31.2 arch=arm64"), "{out}");
    let out = run_ok(
        Command::new(&minisign)
            .arg("-V")
            .arg("-m")
            .arg(x.join("airbundle.json"))
            .arg("-x")
            .arg(x.join("airbundle.json.minisig"))
            .arg("-p")
            .arg(&public),
    );
    assert!(out.contains("airbundle manifest kubernetes=v1.31.2 os=linux arch=arm64"), "{out}");

    let out = run_ok(airadm().args(["verify", "--bundle"]).arg(&bundle).arg("--trusted-key").arg(&public));
    assert!(out.contains("OK") && out.contains("detached signature OK"), "{out}");
    // From a pipe, with the signature given explicitly.
    let out = run_ok(Command::new("sh").arg("-c").arg(format!(
        "cat '{}' | '{}' verify --bundle - --trusted-key '{}' --signature '{}.minisig'",
        bundle.display(),
        crate::testkit_bin("airadm"),
        public.display(),
        bundle.display()
    )));
    assert!(out.contains("detached signature OK"), "{out}");

    // airbundle inspect shows the images, as text and as JSON.
    let out = run_ok(airbundle().arg("inspect").arg(&bundle));
    assert!(out.contains("registry.k8s.io/etcd:3.5.15-0") && out.contains("linux/arm64"), "{out}");
    let json: serde_json::Value = serde_json::from_str(&run_ok(airbundle().args(["inspect", "--json"]).arg(&bundle))).unwrap();
    assert_eq!(json["manifest"]["arch"], "arm64");
    assert_eq!(json["manifest"]["images"].as_array().unwrap().len(), 7);
    assert_eq!(json["fileSize"].as_u64().unwrap(), fs_err::metadata(&bundle).unwrap().len());
}

#[test]
fn keys_made_by_the_minisign_cli_sign_bundles_and_ours_work_with_the_cli() {
    let w = World::new(10_000);
    let cli = testkit::minisign_keygen(w.dir.path(), "cli");
    let out = w.path("out");
    run_ok(w.build(&cli.secret, "amd64", &out, &[]));
    let bundle = bundle_file(&out, "amd64");
    run_ok(airadm().args(["verify", "--bundle"]).arg(&bundle).arg("--trusted-key").arg(&cli.public));
    let minisign = require("minisign", "minisign");
    run_ok(Command::new(&minisign).arg("-Vm").arg(&bundle).arg("-p").arg(&cli.public));

    // A password-protected key made by the CLI signs bundles given --password-file.
    fs_err::write(w.path("cli-pw"), "correct horse\n").unwrap();
    run_ok(Command::new("sh").arg("-c").arg(format!(
        "printf 'correct horse\\ncorrect horse\\n' | '{}' -G -f -p '{}' -s '{}'",
        minisign.display(),
        w.path("clienc.pub").display(),
        w.path("clienc.key").display()
    )));
    run_ok(w.build(&w.path("clienc.key"), "amd64", &w.path("clienc-out"), &["--password-file", w.path("cli-pw").to_str().unwrap()]));
    run_ok(
        airadm()
            .args(["verify", "--bundle"])
            .arg(bundle_file(&w.path("clienc-out"), "amd64"))
            .arg("--trusted-key")
            .arg(w.path("clienc.pub")),
    );
    let err = run_fails(w.build(
        &w.path("clienc.key"),
        "amd64",
        &w.path("clienc-out2"),
        &["--password-file", w.path("pw-wrong").to_str().unwrap()],
    ));
    assert!(err.contains("--password-file"), "{err}");

    // Our key (password-protected) signs with the CLI, and the CLI's signature verifies with us.
    fs_err::write(w.path("pw"), "hunter2\n").unwrap();
    fs_err::write(w.path("pw-wrong"), "nope\n").unwrap();
    run_ok(airbundle().args(["keygen", "--name", "enc", "--password-file"]).arg(w.path("pw")).arg("--output-dir").arg(w.dir.path()));
    let data = w.path("data.txt");
    fs_err::write(&data, "payload").unwrap();
    run_ok(Command::new("sh").arg("-c").arg(format!(
        "echo hunter2 | '{}' -S -s '{}' -m '{}'",
        minisign.display(),
        w.path("enc.key").display(),
        data.display()
    )));
    run_ok(Command::new(&minisign).arg("-Vm").arg(&data).arg("-p").arg(w.path("enc.pub")));
    // And it signs bundles given the password file; without it, a clear error.
    let err = run_fails(w.build(&w.path("enc.key"), "amd64", &w.path("enc-out"), &[]));
    assert!(err.contains("--password-file"), "{err}");
    run_ok(w.build(&w.path("enc.key"), "amd64", &w.path("enc-out"), &["--password-file", w.path("pw").to_str().unwrap()]));
    run_ok(airadm().args(["verify", "--bundle"]).arg(bundle_file(&w.path("enc-out"), "amd64")).arg("--trusted-key").arg(w.path("enc.pub")));
}
