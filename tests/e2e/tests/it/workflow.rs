//! init's phase tree on the command line against real kubeadm's: the phase list `init --help`
//! prints, the `init phase` subcommands, and the flags each phase subcommand takes (kubeadm's
//! `InheritFlags`, as far as airadm has the flag), for the reference kubeadm of every minor.

use std::collections::BTreeSet;
use std::process::Command;

use testkit::run_ok;

use crate::airadm;

/// airadm's own phases, absent from kubeadm's tree.
const OURS: &[&str] = &["import", "binaries", "cni"];
/// airadm's own flags, taken by every phase.
const OWN_FLAGS: &[&str] = &["bundle", "trusted-key", "signature", "rootfs", "arch", "log-level"];

/// The block between the ``` lines of a workflow command's help.
fn phase_list(help: &str) -> Vec<String> {
    let block = help.split("```\n").nth(1).unwrap_or_else(|| panic!("no phase list in\n{help}"));
    block.split("```").next().unwrap().lines().map(str::to_owned).collect()
}

/// The long flags of a help's own flag section (kubeadm's `Flags:` up to `Global Flags:`, clap's
/// `Options:`), but `--help`.
fn flags(help: &str) -> BTreeSet<String> {
    let own = help.split("Global Flags:").next().unwrap();
    own.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let l = l
                .strip_prefix("-")
                .filter(|r| r.chars().next().is_some_and(|c| c.is_ascii_alphabetic()))
                .map_or(l, |r| r[1..].trim_start_matches(", "));
            l.strip_prefix("--").map(|r| r.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).next().unwrap().to_owned())
        })
        .filter(|f| f != "help")
        .collect()
}

fn help(program: &std::path::Path, args: &[&str]) -> String {
    run_ok(Command::new(program).args(args).arg("--help"))
}

#[test]
#[allow(clippy::print_stderr)] // which older minors differ, for the log
fn init_phases_on_the_command_line_are_kubeadms() {
    let airadm_bin = testkit::workspace_bin("airadm");
    let ours_list: Vec<String> =
        phase_list(&help(&airadm_bin, &["init"])).into_iter().filter(|l| !OURS.iter().any(|o| l.starts_with(&format!("{o} ")))).collect();
    let airadm_init_flags = flags(&help(&airadm_bin, &["init"]));
    let mut differing = Vec::new();
    for release in testkit::reference::RELEASES {
        let kubeadm = testkit::reference::binary(release, "kubeadm");
        let theirs_list = phase_list(&help(&kubeadm, &["init"]));
        if theirs_list != ours_list {
            differing.push(format!("{release}:\nkubeadm:\n{}\nairadm:\n{}", theirs_list.join("\n"), ours_list.join("\n")));
            continue;
        }
        // Every phase subcommand takes kubeadm's flags that airadm has, plus airadm's own.
        for line in &theirs_list {
            let path = phase_path(&theirs_list, line);
            let mut args = vec!["init", "phase"];
            args.extend(path.iter().map(String::as_str));
            let theirs: BTreeSet<String> = flags(&help(&kubeadm, &args)).into_iter().filter(|f| airadm_init_flags.contains(f)).collect();
            let ours: BTreeSet<String> =
                flags(&airadm().args(&args).arg("--help").output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap())
                    .into_iter()
                    .filter(|f| !OWN_FLAGS.contains(&f.as_str()))
                    .collect();
            assert_eq!(ours, theirs, "{release}: flags of `init phase {}`: airadm (left), kubeadm (right)", path.join(" "));
        }
    }
    // The phase tree is the newest kubeadm's; older minors may differ.
    let newest = testkit::reference::RELEASES.last().unwrap();
    assert!(!differing.iter().any(|d| d.starts_with(&format!("{newest}:"))), "{}", differing.join("\n\n"));
    for d in &differing {
        eprintln!("the phase list differs from kubeadm {d}");
    }
}

/// `certs/apiserver` as subcommand words, from the indented phase list.
fn phase_path(list: &[String], line: &str) -> Vec<String> {
    let index = list.iter().position(|l| l == line).unwrap();
    let level = |l: &str| (l.len() - l.trim_start().len()) / 2;
    let word = |l: &str| l.trim_start().trim_start_matches('/').split_whitespace().next().unwrap().to_owned();
    let mut path = vec![word(line)];
    let mut want = level(line);
    for l in list[..index].iter().rev() {
        if want > 0 && level(l) == want - 1 {
            path.insert(0, word(l));
            want -= 1;
        }
    }
    path
}

#[test]
fn a_phase_with_sub_phases_needs_one_and_a_flag_it_does_not_take_is_refused() {
    let out = airadm().args(["init", "phase", "certs"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("requires a subcommand") && err.contains("apiserver-kubelet-client"), "{err}");
    let out =
        airadm().args(["init", "phase", "kubeconfig", "admin", "--pod-network-cidr", "10.0.0.0/16", "--bundle", "b"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: unknown flag: --pod-network-cidr (`init phase kubeconfig admin` takes --bundle"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn shell_completion_knows_the_phases() {
    let airadm_bin = testkit::workspace_bin("airadm");
    // bash, as it completes `airadm init phase c<TAB>`.
    let script = format!(
        "source <({} completion bash)\nCOMP_WORDS=(airadm init phase c); COMP_CWORD=3; COMP_LINE='airadm init phase c'; COMP_POINT=${{#COMP_LINE}}\n_airadm airadm c phase\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        airadm_bin.display()
    );
    let out = run_ok(Command::new("bash").arg("-c").arg(&script));
    assert_eq!(out, "certs\ncontrol-plane\ncni\n");
    let zsh = run_ok(airadm().args(["completion", "zsh"]));
    assert!(zsh.starts_with("#compdef airadm\n") && zsh.contains("kubelet-start"), "{}", &zsh[..200.min(zsh.len())]);
}
