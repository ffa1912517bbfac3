//! Serves the node binaries of a reference release on 127.0.0.1 in the dl.k8s.io and GitHub
//! layouts (`testkit::releases`), for the benchmarks and the demo: prints the URL, then serves
//! until killed. `serve-releases VERSION [ARCH]` (ARCH: the host's, default amd64).
#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

use std::io::Write as _;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(version) = args.first() else {
        eprintln!("usage: serve-releases VERSION [ARCH]");
        std::process::exit(2);
    };
    let arch = args.get(1).map_or("amd64", String::as_str);
    let server = testkit::releases::ReleaseServer::start(version, arch);
    println!("{}", server.url());
    std::io::stdout().flush().ok();
    loop {
        std::thread::park();
    }
}
