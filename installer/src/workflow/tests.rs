//! The runner on a toy tree, table-driven as kubeadm's runner_test.go.

use super::{Phase, Runner, ready};

/// The data: what ran, in order.
#[derive(Default)]
struct Log(Vec<String>);

fn leaf(name: &'static str) -> Phase<Log> {
    Phase::new(name, format!("{name} help")).run(move |log: &mut Log| {
        log.0.push(name.to_owned());
        ready(Ok(()))
    })
}

/// `foo` (with `all`, `foo1`, `foo2`), `bar` (with `bar1`, `bar2` (with `bar2a`)), `baz`.
fn tree() -> Runner<Log> {
    Runner::new(vec![
        leaf("foo").phases(vec![Phase::all("all of foo", &[]), leaf("foo1"), leaf("foo2")]),
        leaf("bar").phases(vec![leaf("bar1"), leaf("bar2").phases(vec![leaf("bar2a")])]),
        leaf("baz"),
    ])
}

fn names(runner: &Runner<Log>, plan: &[usize]) -> Vec<String> {
    let entries = runner.entries();
    plan.iter().map(|&i| entries[i].name.clone()).collect()
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn entries_are_the_tree_in_order_with_joined_names() {
    let runner = tree();
    let all = runner.plan(&[], &[]).unwrap();
    assert_eq!(
        names(&runner, &all),
        strings(&["foo", "foo/all", "foo/foo1", "foo/foo2", "bar", "bar/bar1", "bar/bar2", "bar/bar2/bar2a", "baz"])
    );
    let levels: Vec<usize> = runner.entries().iter().map(|e| e.level).collect();
    assert_eq!(levels, [0, 1, 1, 1, 0, 1, 1, 2, 0]);
}

#[test]
fn filters_and_skips_apply_to_whole_sub_trees() {
    let runner = tree();
    let cases: &[(&[&str], &[&str], &[&str])] = &[
        (&["foo"], &[], &["foo", "foo/all", "foo/foo1", "foo/foo2"]),
        (&["bar/bar2"], &[], &["bar/bar2", "bar/bar2/bar2a"]),
        (&["foo/foo1", "baz"], &[], &["foo/foo1", "baz"]),
        (&[], &["bar", "foo/foo2"], &["foo", "foo/all", "foo/foo1", "baz"]),
        (&["bar"], &["bar/bar2"], &["bar", "bar/bar1"]),
        (&[], &["foo", "bar", "baz"], &[]),
    ];
    for (filter, skip, want) in cases {
        let plan = runner.plan(&strings(filter), &strings(skip)).unwrap();
        assert_eq!(names(&runner, &plan), strings(want), "filter {filter:?} skip {skip:?}");
    }
}

#[test]
fn unknown_names_are_refused_listing_the_phases() {
    let runner = tree();
    let err = runner.plan(&[], &strings(&["qux"])).unwrap_err().to_string();
    assert!(err.starts_with("invalid phase name: qux (--skip-phases): the phases are foo, foo/all, foo/foo1"), "{err}");
    assert!(runner.plan(&strings(&["foo/bar1"]), &[]).unwrap_err().to_string().starts_with("invalid phase name: foo/bar1: "));
}

#[tokio::test]
async fn run_goes_in_order_honours_run_if_and_names_the_failing_phase() {
    let runner = Runner::new(vec![
        leaf("a"),
        leaf("b").run_if(|log: &Log| Ok(log.0.len() > 5)),
        Phase::new("c", "fails").run(|_: &mut Log| ready(Err(anyhow::anyhow!("boom")))),
        leaf("d"),
    ]);
    let mut log = Log::default();
    let plan = runner.plan(&[], &[]).unwrap();
    let err = runner.run(&plan, &mut log).await.unwrap_err();
    assert_eq!(format!("{err:#}"), "phase \"c\": boom");
    assert_eq!(log.0, ["a"], "b's condition is false, d comes after the failure");
}

#[test]
fn dependencies_must_run_before_in_the_same_invocation() {
    let runner = Runner::new(vec![leaf("token"), leaf("certs"), leaf("show").dependencies(&["token", "certs"])]);
    runner.plan(&[], &[]).unwrap();
    let err = runner.plan(&strings(&["show"]), &[]).unwrap_err().to_string();
    assert_eq!(
        err,
        "unresolved dependencies: missing [token certs] phase(s) needed by \"show\" phase: run them in the same invocation, or the whole workflow"
    );
    let err = runner.plan(&[], &strings(&["certs"])).unwrap_err().to_string();
    assert!(err.contains("missing [certs] phase(s) needed by \"show\" phase"), "{err}");
}

#[test]
fn help_lists_the_tree_as_kubeadm_does() {
    let help = tree().help("init");
    // kubeadm pads each name to the longest one, not counting the indentation.
    let want = [
        "The \"init\" command executes the following phases:",
        "```",
        "foo     foo help",
        "  /foo1   foo1 help",
        "  /foo2   foo2 help",
        "bar     bar help",
        "  /bar1   bar1 help",
        "  /bar2   bar2 help",
        "    /bar2a  bar2a help",
        "baz     baz help",
        "```",
    ]
    .join("\n");
    assert_eq!(help, want);
}
