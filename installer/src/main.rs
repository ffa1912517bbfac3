//! `airadm` binary: parse, set up logging and the runtime, run, print errors on one line.

use std::io::Write as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let matches = installer::cli::command().get_matches();
    let from_env = matches.value_source("log_level") == Some(clap::parser::ValueSource::EnvVariable);
    let result = installer::cli::from_matches(&matches).and_then(|cli| {
        let filter = installer::cli::log_filter(&cli.log_level, from_env)?;
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        runtime.block_on(installer::run(cli))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Nothing more can be done when stderr itself is gone.
            let _ = writeln!(std::io::stderr(), "error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
