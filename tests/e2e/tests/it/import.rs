//! `airadm images import` into a real containerd (Debian's, started by the test).

use std::path::Path;
use std::process::Command;

use testkit::{Containerd, run_fails, run_ok};

use crate::{World, airadm, bundle_file};

use crate::import_into as import;

pub(crate) fn manifest(bundle: &Path) -> bundle::Manifest {
    bundle::reader::read_manifest_unverified(fs_err::File::open(bundle).unwrap()).unwrap()
}

fn image_names(ctd: &Containerd) -> Vec<String> {
    ctd.ctr_ok(&["images", "ls", "-q"]).lines().map(str::to_owned).collect()
}

#[test]
fn imports_every_image_complete_unpacked_and_pinned_and_reimport_changes_nothing() {
    let w = World::new(20_000);
    let (key, public) = w.keygen("release");
    let out = w.path("out");
    run_ok(w.build(&key, "amd64", &out, &[]));
    let bundle = bundle_file(&out, "amd64");
    let ctd = Containerd::start("registry.k8s.io/pause:3.10");
    let output = testkit::run(import(&bundle, &public, &ctd, &[]));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(!report.contains("warning") && !report.contains("note:"), "{report}");
    let progress = String::from_utf8_lossy(&output.stderr);
    assert!(progress.contains("verifying: ") && progress.contains("unpacking: 8 layers in"), "{progress}");
    let m = manifest(&bundle);
    let names = image_names(&ctd);
    for image in &m.images {
        assert!(report.contains(&image.name) && report.contains("imported"), "{report}");
        let repo = image.name.rsplit_once(':').unwrap().0;
        let target = image.oci_index.unwrap_or(image.digest);
        assert!(names.contains(&image.name), "{} missing from {names:?}", image.name);
        assert!(names.contains(&format!("{repo}@{target}")), "{repo}@{target} missing");
    }
    assert_eq!(names.len(), 14);
    let listing = ctd.ctr_ok(&["images", "ls"]);
    for image in &m.images {
        let line = listing.lines().find(|l| l.starts_with(&format!("{} ", image.name))).unwrap();
        assert!(line.contains(&image.oci_index.unwrap_or(image.digest).to_string()), "{line}");
        assert!(line.contains("io.cri-containerd.pinned=pinned") && line.contains("io.cri-containerd.image=managed"), "{line}");
    }
    let check = ctd.ctr_ok(&["images", "check"]);
    assert_eq!(check.lines().skip(1).filter(|l| l.contains("complete") && l.trim_end().ends_with("true")).count(), 14, "{check}");
    // The CRI view, as the kubelet has it; the bundle's signature checked first.
    let check = |key: &Path| {
        let mut cmd = airadm();
        cmd.args(["images", "check", "--bundle"])
            .arg(&bundle)
            .arg("--trusted-key")
            .arg(key)
            .arg("--cri-socket")
            .arg(format!("unix://{}", ctd.socket().display()));
        cmd
    };
    let cri = run_ok(check(&public));
    assert_eq!(cri.lines().filter(|l| l.ends_with("present")).count(), 7, "{cri}");
    let (_, other) = w.keygen("other");
    let err = run_fails(check(&other));
    assert!(err.contains("not a trusted key") && err.lines().count() == 1, "{err}");
    assert!(ctd.ctr_ok(&["leases", "ls", "-q"]).trim().is_empty(), "lease left behind");

    // A name that points at another image is not the bundle's image.
    let pause = m.images.iter().find(|i| i.component == "pause").unwrap();
    let etcd = m.images.iter().find(|i| i.component == "etcd").unwrap();
    ctd.ctr_ok(&["images", "rm", &pause.name]);
    ctd.ctr_ok(&["images", "tag", &etcd.name, &pause.name]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let out = loop {
        // The CRI plugin learns of the new record from containerd's events.
        let out = testkit::run(check(&public));
        if !out.status.success() || std::time::Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let line = stdout.lines().find(|l| l.starts_with(&format!("{} ", pause.name))).unwrap();
    assert!(line.ends_with(&format!("NOT MATCHING: the runtime's is {}, the bundle's {}", etcd.config, pause.config)), "{stdout}");
    assert_eq!(stdout.lines().filter(|l| l.ends_with("present")).count(), 6, "{stdout}");
    assert!(stderr.contains(&format!("the runtime does not hold {} (the runtime's is {}", pause.name, etcd.config)), "{stderr}");
    // Imported again: named as the bundle has it.
    run_ok(import(&bundle, &public, &ctd, &[]));
    assert_eq!(run_ok(check(&public)).lines().filter(|l| l.ends_with("present")).count(), 7);

    let content_before = ctd.ctr_ok(&["content", "ls", "-q"]);
    let again = run_ok(import(&bundle, &public, &ctd, &[]));
    assert_eq!(again.lines().filter(|l| l.ends_with("present")).count(), 7, "{again}");
    assert_eq!(ctd.ctr_ok(&["content", "ls", "-q"]), content_before);
    assert_eq!(image_names(&ctd).len(), 14);
}

#[test]
fn foreign_bundles_are_refused_and_dry_run_changes_nothing() {
    let w = World::new(20_000);
    let (key, public) = w.keygen("release");
    let (_, other) = w.keygen("other");
    run_ok(w.build(&key, "amd64", &w.path("amd"), &[]));
    run_ok(w.build(&key, "arm64", &w.path("arm"), &[]));
    let ctd = Containerd::start("registry.k8s.io/pause:3.10");

    // Wrong architecture, wrong key: refused before anything is written.
    let err = run_fails(import(&bundle_file(&w.path("arm"), "arm64"), &public, &ctd, &[]));
    assert!(err.contains("linux/arm64") && err.contains("--arch"), "{err}");
    let err = run_fails(import(&bundle_file(&w.path("amd"), "amd64"), &other, &ctd, &[]));
    assert!(err.contains("not a trusted key"), "{err}");

    assert!(image_names(&ctd).is_empty(), "an image record was created");
    assert!(ctd.ctr_ok(&["leases", "ls", "-q"]).trim().is_empty(), "lease left behind");
    // (Every other kind of bad bundle: corpus.rs.)

    // The good bundle then imports, and --dry-run changes nothing.
    let dir = w.path("dry");
    fs_err::create_dir_all(&dir).unwrap();
    let dry = run_ok(import(&bundle_file(&w.path("amd"), "amd64"), &public, &ctd, &["--dry-run"]));
    assert_eq!(dry.lines().filter(|l| l.ends_with("would import")).count(), 7, "{dry}");
    assert!(image_names(&ctd).is_empty());
    run_ok(import(&bundle_file(&w.path("amd"), "amd64"), &public, &ctd, &[]));
    assert_eq!(image_names(&ctd).len(), 14);
}

#[test]
fn a_socket_that_does_not_answer_is_a_clear_error() {
    let w = World::new(1_000);
    let (key, public) = w.keygen("release");
    run_ok(w.build(&key, "amd64", &w.path("out"), &[]));
    let err = run_fails(
        airadm()
            .args(["images", "import", "--bundle"])
            .arg(bundle_file(&w.path("out"), "amd64"))
            .arg("--trusted-key")
            .arg(&public)
            .args(["--cri-socket", "unix:///nonexistent/containerd.sock"]),
    );
    assert!(err.contains("/nonexistent/containerd.sock") && err.contains("does not answer") && err.lines().count() == 1, "{err}");
}

#[test]
fn an_imported_image_runs_with_no_registry() {
    let w = World::new(1_000);
    let busybox = fs_err::read("/bin/busybox").expect("/bin/busybox: apt-get install busybox-static");
    let layer =
        testkit::Layer::from_files(&[("bin/busybox", busybox, 0o755), ("hello.txt", b"hello from an air-gapped bundle\n".to_vec(), 0o644)]);
    testkit::TestImage {
        repository: "airadm/hello".into(),
        tag: "v1".into(),
        platforms: vec![("amd64".into(), vec![layer])],
        docker_format: false,
    }
    .push(w.registry.addr());
    let (key, public) = w.keygen("release");
    run_ok(w.build(&key, "amd64", &w.path("out"), &["--extra-image", "registry.example/airadm/hello:v1"]));
    let bundle = bundle_file(&w.path("out"), "amd64");
    let World { registry, dir: _dir, .. } = w;
    drop(registry); // offline from here on
    // A CRI plugin on the native snapshotter, with another sandbox image than the bundle's.
    let ctd = Containerd::start_with("registry.k8s.io/pause:3.9", "native");
    let report = run_ok(import(&bundle, &public, &ctd, &[]));
    assert!(
        report.contains("warning: containerd's sandbox image is registry.k8s.io/pause:3.9, the bundle's is registry.k8s.io/pause:3.10")
            && report.contains("configs/containerd/v2/airadm.toml")
            && report.contains("sandbox_image = \"registry.k8s.io/pause:3.10\""),
        "{report}"
    );
    // Unpacked where the CRI plugin looks: the native snapshotter (it reports it), not overlayfs.
    assert!(!ctd.ctr_ok(&["snapshots", "--snapshotter", "native", "ls"]).lines().skip(1).collect::<Vec<_>>().is_empty());
    assert_eq!(ctd.ctr_ok(&["snapshots", "--snapshotter", "overlayfs", "ls"]).lines().skip(1).count(), 0);
    let dir = ctd.dir().display().to_string();
    let out = ctd.ctr_ok(&[
        "run",
        "--rm",
        "--snapshotter",
        "native",
        "--fifo-dir",
        &format!("{dir}/fifo"),
        "--runc-root",
        &format!("{dir}/runc"),
        "registry.example/airadm/hello:v1",
        &format!("airadm-hello-{}", std::process::id()),
    ]);
    assert_eq!(out.trim(), "hello from an air-gapped bundle");
}

#[test]
fn an_import_killed_halfway_is_completed_by_running_it_again() {
    let w = World::new(3_000_000);
    let (key, public) = w.keygen("release");
    run_ok(w.build(&key, "amd64", &w.path("out"), &[]));
    let bundle = bundle_file(&w.path("out"), "amd64");
    let ctd = Containerd::start("registry.k8s.io/pause:3.10");
    // Feed the bundle slowly through stdin so the import is caught mid-stream, then SIGKILL it.
    let mut child = airadm()
        .args(["images", "import", "--quiet", "--bundle", "-", "--trusted-key"])
        .arg(&public)
        .arg("--cri-socket")
        .arg(format!("unix://{}", ctd.socket().display()))
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let bytes = fs_err::read(&bundle).unwrap();
    let feeder = std::thread::spawn(move || {
        use std::io::Write as _;
        for chunk in bytes.chunks(64 * 1024) {
            if stdin.write_all(chunk).is_err() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    });
    // However loaded the machine, the import is caught while the bundle is still being fed.
    while ctd.ctr_ok(&["content", "ls", "-q"]).lines().count() < 3 {
        assert!(!feeder.is_finished(), "the whole bundle was fed and the import wrote no content yet");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    feeder.join().unwrap();
    assert!(image_names(&ctd).is_empty(), "a killed import named images");
    run_ok(import(&bundle, &public, &ctd, &[]));
    assert_eq!(image_names(&ctd).len(), 14);
    let check = ctd.ctr_ok(&["images", "check"]);
    assert_eq!(check.lines().skip(1).filter(|l| l.contains("complete") && l.trim_end().ends_with("true")).count(), 14, "{check}");
}

/// containers-storage (what CRI-O reads) in a temp dir, for skopeo and airadm.
pub(crate) fn storage_conf(dir: &Path) -> std::path::PathBuf {
    let conf = dir.join("storage.conf");
    fs_err::write(&conf, format!("[storage]\ndriver = \"vfs\"\ngraphroot = \"{0}/graph\"\nrunroot = \"{0}/run\"\n", dir.display()))
        .unwrap();
    conf
}

#[test]
fn cri_o_path_imports_into_containers_storage_through_a_staging_dir() {
    let w = World::new(20_000);
    let (key, public) = w.keygen("release");
    run_ok(w.build(&key, "amd64", &w.path("out"), &[]));
    let bundle = bundle_file(&w.path("out"), "amd64");
    let storage = w.path("storage");
    fs_err::create_dir_all(&storage).unwrap();
    let conf = storage_conf(&storage);
    let staging = w.path("staging");
    // CRI-O's config directory: empty (its pause_image unset) unless the test writes one.
    let crio_dir = w.path("crio");
    fs_err::create_dir_all(&crio_dir).unwrap();
    let crio = |bundle: &Path| {
        let mut cmd = airadm();
        cmd.args(["images", "import", "--runtime", "cri-o", "--bundle"])
            .arg(bundle)
            .arg("--trusted-key")
            .arg(&public)
            .arg("--staging-dir")
            .arg(&staging)
            .arg("--crio-config-dir")
            .arg(&crio_dir)
            .env("CONTAINERS_STORAGE_CONF", &conf);
        cmd
    };
    let inspect = |name: &str| {
        testkit::run(
            Command::new("skopeo").args(["inspect"]).arg(format!("containers-storage:{name}")).env("CONTAINERS_STORAGE_CONF", &conf),
        )
    };

    // A tampered bundle: refused, nothing in storage, nothing left in the staging dir.
    let mut bytes = fs_err::read(&bundle).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    let bad = w.path("bad.tar.zst");
    fs_err::write(&bad, &bytes).unwrap();
    run_fails(crio(&bad));
    assert!(!inspect("registry.k8s.io/etcd:3.5.15-0").status.success(), "a refused bundle reached containers-storage");
    assert_eq!(fs_err::read_dir(&staging).unwrap().count(), 0, "staging dir left behind");

    let report = run_ok(crio(&bundle));
    assert_eq!(report.lines().filter(|l| l.ends_with("imported")).count(), 7, "{report}");
    // CRI-O's pause_image is unset, so the bundle's drop-in is shown; no CRI socket, no CRI check.
    assert!(
        report.contains(
            "warning: CRI-O's sandbox image is not set (its built-in default applies), the bundle's is registry.k8s.io/pause:3.10"
        ) && report.contains("save this as /etc/crio/crio.conf.d/10-airadm.conf")
            && report.contains("[crio.image]"),
        "{report}"
    );
    assert!(report.contains("note: no CRI socket answered"), "{report}");
    // Set to the bundle's: no warning. A drop-in that does not parse: refused, naming it, before
    // anything is staged.
    let drop_ins = crio_dir.join("crio.conf.d");
    fs_err::create_dir_all(&drop_ins).unwrap();
    fs_err::write(drop_ins.join("10-airadm.conf"), "[crio.image]\npause_image = \"registry.k8s.io/pause:3.10\"\n").unwrap();
    let report = run_ok(crio(&bundle));
    assert!(!report.contains("warning"), "{report}");
    fs_err::write(drop_ins.join("20-broken.conf"), "[crio.image\n").unwrap();
    let err = run_fails(crio(&bundle));
    assert!(err.contains(&format!("CRI-O config file `{}` line 1 is not valid TOML", drop_ins.join("20-broken.conf").display())), "{err}");
    for image in &manifest(&bundle).images {
        let out = inspect(&image.name);
        assert!(out.status.success(), "{}: {}", image.name, String::from_utf8_lossy(&out.stderr));
        let inspected: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(inspected["Architecture"], "amd64", "{}", image.name);
        assert_eq!(inspected["Digest"], image.digest.to_string(), "{}", image.name);
    }
    assert_eq!(fs_err::read_dir(&staging).unwrap().count(), 0, "staging dir left behind");
}

#[test]
fn cri_dockerd_path_loads_into_the_docker_engine() {
    let w = World::new(20_000);
    let (key, public) = w.keygen("release");
    run_ok(w.build(&key, "amd64", &w.path("out"), &[]));
    let bundle = bundle_file(&w.path("out"), "amd64");
    let docker = testkit::Docker::start();
    let staging = w.path("staging");
    let load = |bundle: &Path| {
        let mut cmd = airadm();
        cmd.args(["images", "import", "--runtime", "docker", "--bundle"])
            .arg(bundle)
            .arg("--trusted-key")
            .arg(&public)
            .arg("--staging-dir")
            .arg(&staging)
            .arg("--docker-socket")
            .arg(docker.socket());
        cmd
    };
    // Truncated: refused, nothing loaded, no staging left.
    let bytes = fs_err::read(&bundle).unwrap();
    let bad = w.path("bad.tar.zst");
    fs_err::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    run_fails(load(&bad));
    assert!(String::from_utf8_lossy(&docker.docker(&["images", "-q"]).stdout).trim().is_empty(), "a refused bundle reached docker");
    assert_eq!(fs_err::read_dir(&staging).unwrap().count(), 0, "staging dir left behind");

    let report = run_ok(load(&bundle));
    assert_eq!(report.lines().filter(|l| l.ends_with("imported")).count(), 7, "{report}");
    for image in &manifest(&bundle).images {
        let out = docker.docker(&["image", "inspect", "--format", "{{.Id}} {{.Architecture}}", &image.name]);
        assert!(out.status.success(), "{}: {}", image.name, String::from_utf8_lossy(&out.stderr));
        // Docker's image id is the config digest: the very image the bundle carries.
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("{} amd64", image.config), "{}", image.name);
    }
    assert_eq!(fs_err::read_dir(&staging).unwrap().count(), 0, "staging dir left behind");
}

#[test]
fn images_import_and_init_check_the_detached_signature_given_with_signature() {
    let w = World::new(1_000);
    let (key, public) = w.keygen("release");
    run_ok(w.build(&key, "amd64", &w.path("amd"), &[]));
    run_ok(w.build(&key, "arm64", &w.path("arm"), &[]));
    let ctd = Containerd::start("registry.k8s.io/pause:3.10");
    // The bundle alone elsewhere: no `.minisig` beside it.
    let alone = w.path("alone");
    fs_err::create_dir_all(&alone).unwrap();
    let bundle = alone.join("bundle.tar.zst");
    fs_err::copy(bundle_file(&w.path("amd"), "amd64"), &bundle).unwrap();
    let right = format!("{}.minisig", bundle_file(&w.path("amd"), "amd64").display());
    let wrong = format!("{}.minisig", bundle_file(&w.path("arm"), "arm64").display());

    let err = run_fails(import(&bundle, &public, &ctd, &["--signature", &wrong]));
    assert!(err.contains("bundle.tar.zst") && err.lines().count() == 1, "{err}");
    assert!(image_names(&ctd).is_empty(), "imported with another file's signature");
    let rootfs = w.path("rootfs");
    let init = |signature: &str| {
        let mut cmd = airadm();
        cmd.args(["init", "phase", "import", "--bundle"])
            .arg(&bundle)
            .arg("--trusted-key")
            .arg(&public)
            .args(["--signature", signature])
            .arg("--cri-socket")
            .arg(format!("unix://{}", ctd.socket().display()))
            .arg("--rootfs")
            .arg(&rootfs);
        cmd
    };
    let err = run_fails(init(&wrong));
    assert!(err.contains("bundle.tar.zst") && err.lines().count() == 1, "{err}");
    assert!(image_names(&ctd).is_empty(), "init imported with another file's signature");

    run_ok(import(&bundle, &public, &ctd, &["--signature", &right]));
    assert_eq!(image_names(&ctd).len(), 14);
    let out = run_ok(init(&right));
    assert_eq!(out.lines().filter(|l| l.starts_with("[import] ") && l.ends_with("(present)")).count(), 7, "{out}");
}
