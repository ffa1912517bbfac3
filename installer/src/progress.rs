//! Progress of long commands: indicatif bars on a terminal, one line per step otherwise,
//! nothing with `--quiet`.

use std::io::{IsTerminal as _, Read, Write as _};
use std::time::Instant;

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A step's progress.
pub struct Step {
    bar: ProgressBar,
    plain: bool,
    what: String,
    started: Instant,
}

impl Step {
    /// Starts a step of `total` units (`bytes` formats them as sizes).
    pub fn start(what: &str, total: u64, bytes: bool, quiet: bool) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let target = if terminal && !quiet { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        let template = if bytes {
            "{prefix:>12} {bytes:>10}/{total_bytes:10} {binary_bytes_per_sec:>12} [{wide_bar}] {eta}"
        } else {
            "{prefix:>12} {pos:>5}/{len:5} [{wide_bar}]"
        };
        let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(Some(total), target).with_style(style).with_prefix(what.to_owned());
        Self { bar, plain: !terminal && !quiet, what: what.to_owned(), started: Instant::now() }
    }

    /// Counts `n` more.
    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    /// Ends the step; in plain mode says what it did.
    pub fn finish(&self, unit: &str) {
        self.bar.finish_and_clear();
        if self.plain {
            let done = self.bar.position();
            let amount = if unit == "bytes" { HumanBytes(done).to_string() } else { format!("{done} {unit}") };
            let _ = writeln!(std::io::stderr().lock(), "{}: {amount} in {:.1?}", self.what, self.started.elapsed());
        }
    }

    /// Ends the step silently (it failed; the error says why).
    pub fn abandon(&self) {
        self.bar.finish_and_clear();
    }

    /// Wraps a reader so its bytes count on this step.
    pub fn reader<R: Read>(&self, inner: R) -> Counted<R> {
        Counted { inner, bar: self.bar.clone() }
    }

    /// A handle to count from other threads or tasks.
    pub fn handle(&self) -> ProgressBar {
        self.bar.clone()
    }
}

/// A reader counted on a step.
pub struct Counted<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}
