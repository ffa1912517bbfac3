//! Pushes test images to a registry for the demo and the benchmarks.
//!
//! `seed-registry ADDR demo [v1.34.4]` - the v1.31.2 (or v1.34.4) image names, amd64 + arm64,
//! small synthetic layers.
//! `seed-registry ADDR bench BINARY…` - the same names, amd64, layers of the given real binaries.
//! `seed-registry ADDR reference VERSION` - Kubernetes' own images of VERSION, made from the
//! reference toolchain's binaries (`testkit::kubeimages`), amd64.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (addr, mode) = match (args.first(), args.get(1)) {
        (Some(addr), Some(mode)) => (addr.as_str(), mode.as_str()),
        _ => {
            eprintln!("usage: seed-registry HOST:PORT demo [VERSION] | bench BINARY... | reference VERSION");
            std::process::exit(2);
        }
    };
    let pushed = match mode {
        "demo" => {
            let catalog = match args.get(2).map(String::as_str) {
                None | Some("v1.31.2") => testkit::image::CATALOG_V1_31_2,
                Some("v1.34.4") => testkit::image::CATALOG_V1_34_4,
                Some(other) => panic!("no demo catalog for {other}: v1.31.2 or v1.34.4"),
            };
            testkit::seed_catalog_at(addr, catalog, 200_000)
        }
        "bench" => {
            let binaries: Vec<PathBuf> = args[2..].iter().map(PathBuf::from).collect();
            assert!(!binaries.is_empty(), "bench needs binaries to build layers from");
            testkit::seed_realistic_at(addr, &binaries, (binaries.len() / 2).max(1))
        }
        "reference" => testkit::kubeimages::layout(args.get(2).expect("reference needs a VERSION")).push(addr),
        other => panic!("unknown mode `{other}`"),
    };
    for image in pushed {
        println!("{addr}/{}:{} {}", image.repository, image.tag, image.index_digest);
    }
}
