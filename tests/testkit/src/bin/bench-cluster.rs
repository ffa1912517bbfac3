//! Bundle-to-Ready, airadm against kubeadm's own path, on the same machine and the same bundle in
//! one run (tests/bench/cluster.sh runs it; BENCHMARKS.md has the figures). Per round, on two
//! fresh nodes each time (`testkit::node`: containerd running, the harness as init system):
//!
//! - airadm: `airadm init --config` on node-1 (verify + import, binaries, kubeadm's phases,
//!   the default network), then the printed `airadm join` on node-2;
//! - kubeadm: on node-1 `zstd -dc | tar x` of the bundle, `ctr images import`, the binaries and
//!   unit by hand, `kubeadm init --config` (the same config), the user's bridge network once the
//!   Node has its pod CIDR; the same on node-2 with the printed `kubeadm join`.
//!
//! The clock starts with the bundle on disk and stops when both Nodes are Ready. Every line
//! init prints is timestamped, so the time goes to the phase whose `[tag]` it carries; the peak
//! RSS is each tool's own (`VmHWM`).
//!
//! Usage: bench-cluster AIRBUNDLE AIRADM ROUNDS
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::cluster::{self, USER_CONFLIST};
use testkit::node::{Network, Node};
use testkit::{reference, run_ok};

const VERSION: &str = "v1.34.4";
const COMMANDS: &[&str] = &["kubectl", "kubeadm", "kubelet", "crictl", "containerd", "bridge", "host-local", "loopback", "portmap"];
const TIMEOUT: Duration = Duration::from_secs(300);

struct Run {
    total: Duration,
    init: Duration,
    join: Duration,
    /// After the join returned.
    ready: Duration,
    /// Time per `[tag]` of init's output, in order.
    phases: Vec<(String, Duration)>,
    /// Peak RSS (KiB) of each tool run: name, KiB.
    rss: Vec<(String, u64)>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (airbundle, airadm) = (PathBuf::from(&args[1]), PathBuf::from(&args[2]));
    let rounds: usize = args.get(3).map_or(2, |r| r.parse().unwrap());
    let bin = reference::toolchain(VERSION, COMMANDS);
    let scratch = tempfile::Builder::new().prefix("airadm-bench-cluster-").tempdir().unwrap();
    let (bundle, public) = build_bundle(&airbundle, &airadm, scratch.path());
    let pause = format!("registry.k8s.io/pause:{}", reference::versions(&bin)["pause"]);
    let mut runs: Vec<(&str, Run)> = Vec::new();
    for round in 0..rounds {
        let order: [&str; 2] = if round % 2 == 0 { ["airadm", "kubeadm"] } else { ["kubeadm", "airadm"] };
        for path in order {
            let dir = scratch.path().join(format!("{path}-{round}"));
            let network = Network::new();
            let mut nodes: Vec<Node> = (1..=2).map(|n| node(&network, n, &dir, &bin, &pause)).collect();
            let run = match path {
                "airadm" => airadm_path(&nodes, &bin, &airadm, &bundle, &public, &dir),
                _ => kubeadm_path(&nodes, &bin, &bundle, &dir),
            };
            eprintln!("bench: round {round} {path}: {:.1} s to two nodes Ready", run.total.as_secs_f64());
            for node in &mut nodes {
                node.stop_kubelet();
            }
            drop(nodes);
            runs.push((path, run));
        }
    }
    report(&runs, &bundle);
}

fn build_bundle(airbundle: &Path, airadm: &Path, dir: &Path) -> (PathBuf, PathBuf) {
    let registry = testkit::Registry::start();
    testkit::kubeimages::layout(VERSION).push(registry.addr());
    let server = testkit::releases::ReleaseServer::start(VERSION, "amd64");
    run_ok(Command::new(airbundle).args(["keygen", "--name", "bench", "--output-dir"]).arg(dir));
    let mut build = Command::new(airbundle);
    build.args(["build", "--kubernetes-version", VERSION, "--arch", "amd64", "--plain-http", "--quiet", "--mirror", registry.addr()]);
    build.arg("--binaries-mirror").arg(server.url()).arg("--airadm-binary").arg(format!("amd64={}", airadm.display()));
    build
        .arg("--signing-key")
        .arg(dir.join("bench.key"))
        .arg("--output-dir")
        .arg(dir.join("out"))
        .arg("--cache-dir")
        .arg(dir.join("cache"));
    run_ok(build.env("HOME", dir));
    (dir.join(format!("out/kubernetes-{VERSION}-linux-amd64.tar.zst")), dir.join("bench.pub"))
}

fn node(network: &Network, n: u8, dir: &Path, bin: &Path, pause: &str) -> Node {
    let name = format!("node-{n}");
    let mut node = Node::start(network, &name, 10 + n, &dir.join(&name));
    node.start_containerd(bin, pause);
    node.write("/etc/default/kubelet", &format!("KUBELET_EXTRA_ARGS=--cgroup-root={}\n", node.cgroup_root()));
    node.start_kubelet();
    node
}

fn airadm_path(nodes: &[Node], bin: &Path, airadm: &Path, bundle: &Path, public: &Path, dir: &Path) -> Run {
    let config = dir.join("init.yaml");
    fs_err::write(&config, cluster::init_config(&nodes[0], VERSION)).unwrap();
    let start = Instant::now();
    let mut rss = Vec::new();
    let own = |node: &Node, args: &[&str]| {
        let mut cmd = node.command_in(bundle.parent().unwrap(), airadm);
        cmd.args(args).arg("--trusted-key").arg(public);
        cmd
    };
    let bundle_arg = bundle.display().to_string();
    let (out, phases) =
        timed(own(&nodes[0], &["init", "--bundle", &bundle_arg, "--config", &config.display().to_string()]), "airadm init", &mut rss);
    let init = start.elapsed();
    let (_, worker) = cluster::join_commands(&out, "airadm");
    let words: Vec<&str> = worker[1..].iter().map(String::as_str).collect();
    let joined = Instant::now();
    timed(own(&nodes[1], &words), "airadm join", &mut rss);
    let join = joined.elapsed();
    let ready = cluster::wait_ready(&nodes[0], bin, 2, TIMEOUT);
    Run { total: start.elapsed(), init, join, ready, phases, rss }
}

fn kubeadm_path(nodes: &[Node], bin: &Path, bundle: &Path, dir: &Path) -> Run {
    let config = dir.join("init.yaml");
    fs_err::write(&config, cluster::init_config(&nodes[0], VERSION)).unwrap();
    let start = Instant::now();
    let mut rss = Vec::new();
    let by_hand = Instant::now();
    cluster::install_by_hand(&nodes[0], bundle, &dir.join("node-1-bundle"));
    let mut phases = vec![("extract, ctr import, install".to_owned(), by_hand.elapsed())];
    let mut init = nodes[0].command("/usr/local/bin/kubeadm");
    init.arg("init").arg("--config").arg(&config);
    let (out, init_phases) = timed(init, "kubeadm init", &mut rss);
    phases.extend(init_phases);
    user_network(nodes, bin, 0);
    let init = start.elapsed();
    let (_, worker) = cluster::join_commands(&out, "kubeadm");
    let joined = Instant::now();
    cluster::install_by_hand(&nodes[1], bundle, &dir.join("node-2-bundle"));
    let mut join = nodes[1].command("/usr/local/bin/kubeadm");
    join.args(&worker[1..]);
    timed(join, "kubeadm join", &mut rss);
    user_network(nodes, bin, 1);
    let join = joined.elapsed();
    let ready = cluster::wait_ready(&nodes[0], bin, 2, TIMEOUT);
    Run { total: start.elapsed(), init, join, ready, phases, rss }
}

/// The kubeadm user's network on node `i` once its Node has a pod CIDR.
fn user_network(nodes: &[Node], bin: &Path, i: usize) {
    let cidrs = cluster::pod_cidrs(&nodes[0], bin, i + 1, TIMEOUT);
    let (_, cidr) = cidrs.iter().find(|(n, _)| *n == nodes[i].name).unwrap();
    nodes[i].write(USER_CONFLIST, &cluster::user_network(cidr));
}

/// Runs `cmd` (`nsenter`, which execs the tool: its pid is the tool's), timestamping each line
/// it prints: its stdout, and per `[tag]` the time up to each of its lines from the line before
/// (a phase prints when it is done, or as it goes). The tool's own peak RSS is its `VmHWM`,
/// sampled every 20 ms (the programs it runs, such as `kubelet --version`, are not counted).
fn timed(mut cmd: Command, name: &str, rss: &mut Vec<(String, u64)>) -> (String, Vec<(String, Duration)>) {
    let start = Instant::now();
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let sampler = std::thread::spawn(move || {
        let mut peak = 0u64;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            let status = fs_err::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let hwm =
                status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok());
            peak = peak.max(hwm.unwrap_or(0));
            std::thread::sleep(Duration::from_millis(20));
        }
        peak
    });
    let stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let (mut out, mut phases) = (String::new(), Vec::<(String, Duration)>::new());
    let mut last = Duration::ZERO;
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines().map_while(Result::ok) {
        let now = start.elapsed();
        let tag = line.strip_prefix('[').and_then(|l| l.split_once(']')).map(|(t, _)| t.to_owned());
        let tag = tag.filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
        match (tag, phases.last_mut()) {
            (Some(tag), Some((previous, took))) if *previous == tag => *took += now - last,
            (Some(tag), _) => phases.push((tag, now - last)),
            (None, Some((_, took))) => *took += now - last,
            (None, None) => {}
        }
        last = now;
        out += &line;
        out.push('\n');
    }
    let status = child.wait().unwrap();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(status.success(), "{name} failed: {}\n{out}", errors.join().unwrap());
    rss.push((name.to_owned(), sampler.join().unwrap()));
    (out, phases)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn report(runs: &[(&str, Run)], bundle: &Path) {
    let cpu = fs_err::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpu.lines().find_map(|l| l.strip_prefix("model name")).map_or("?", |m| m.trim_start_matches([' ', '\t', ':']));
    let mib = fs_err::metadata(bundle).map(|m| m.len() as f64 / 1048576.0).unwrap_or(0.0);
    println!("Machine: {} cores, {model}; bundle {mib:.0} MiB; {} rounds per path (median)\n", num_cpus(), runs.len() / 2);
    println!("| path | bundle → 2 nodes Ready | init (to its return) | join (to its return) | Ready after the join | peak RSS |");
    println!("|---|---|---|---|---|---|");
    let mut totals = Vec::new();
    for path in ["airadm", "kubeadm"] {
        let mine: Vec<&Run> = runs.iter().filter(|(p, _)| *p == path).map(|(_, r)| r).collect();
        let secs = |f: &dyn Fn(&Run) -> Duration| median(mine.iter().map(|r| f(r).as_secs_f64()).collect());
        let mut tools: Vec<String> = mine[0].rss.iter().map(|(n, _)| n.clone()).collect();
        tools.dedup();
        let rss: Vec<String> = tools
            .iter()
            .map(|t| {
                format!(
                    "{t} {:.0} MiB",
                    median(mine.iter().flat_map(|r| r.rss.iter().filter(|(n, _)| n == t).map(|(_, k)| *k as f64)).collect()) / 1024.0
                )
            })
            .collect();
        let total = secs(&|r| r.total);
        totals.push(total);
        println!(
            "| {path} | {total:.1} s | {:.1} s | {:.1} s | {:.1} s | {} |",
            secs(&|r| r.init),
            secs(&|r| r.join),
            secs(&|r| r.ready),
            rss.join(", ")
        );
    }
    println!("\nairadm / kubeadm: {:.2}×\n", totals[0] / totals[1]);
    for path in ["airadm", "kubeadm"] {
        let run = &runs.iter().find(|(p, _)| *p == path).unwrap().1;
        let phases: Vec<String> = run.phases.iter().map(|(t, d)| format!("{t} {:.1} s", d.as_secs_f64())).collect();
        println!("{path} init, first round, by output tag (time up to each tag's lines): {}", phases.join(" · "));
    }
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}
