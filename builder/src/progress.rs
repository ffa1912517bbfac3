//! Progress reporting: indicatif bars on a terminal (one per blob being pulled, a total, one for
//! packing), plain log lines when stderr is not a terminal, nothing with `--quiet`.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Live bars (stderr is a terminal).
    Bars,
    /// One line per event.
    Plain,
    /// Nothing.
    Quiet,
}

impl Mode {
    /// Bars on a terminal, plain lines otherwise, nothing when `quiet`.
    pub fn detect(quiet: bool) -> Self {
        match (quiet, std::io::stderr().is_terminal()) {
            (true, _) => Self::Quiet,
            (false, true) => Self::Bars,
            (false, false) => Self::Plain,
        }
    }
}

/// The progress display of one command.
#[derive(Clone)]
pub struct Progress {
    mode: Mode,
    multi: MultiProgress,
    total: Option<ProgressBar>,
}

impl Progress {
    /// A display in `mode`.
    pub fn new(mode: Mode) -> Self {
        let target = if mode == Mode::Bars { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        Self { mode, multi: MultiProgress::with_draw_target(target), total: None }
    }

    /// Prints a line (above live bars, if any).
    pub fn line(&self, message: &str) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Bars => {
                let _ = self.multi.println(message);
            }
            Mode::Plain => {
                let _ = writeln!(std::io::stderr().lock(), "{message}");
            }
        }
    }

    /// Starts the total bar of a pull of `bytes` in `count` blobs.
    pub fn start_total(&mut self, count: usize, bytes: u64) {
        self.line(&format!("pulling {count} blobs, {}", HumanBytes(bytes)));
        if self.mode == Mode::Bars {
            let bar = self.multi.add(
                ProgressBar::new(bytes)
                    .with_style(style("{prefix:>28} {bytes:>10}/{total_bytes:10} {binary_bytes_per_sec:>12} [{wide_bar}] {eta}"))
                    .with_prefix("total"),
            );
            self.total = Some(bar);
        }
    }

    /// Ends the total bar.
    pub fn finish_total(&self) {
        if let Some(total) = &self.total {
            total.finish_and_clear();
        }
    }

    /// A bar for one blob.
    pub fn blob(&self, label: &str, size: u64) -> Bar {
        let bar = (self.mode == Mode::Bars).then(|| {
            let bar = ProgressBar::new(size)
                .with_style(style("{prefix:>28} {bytes:>10}/{total_bytes:10} [{wide_bar}]"))
                .with_prefix(label.to_owned());
            match &self.total {
                Some(total) => self.multi.insert_before(total, bar),
                None => self.multi.add(bar),
            }
        });
        if self.mode == Mode::Plain {
            self.line(&format!("pulling {label} ({})", HumanBytes(size)));
        }
        Bar {
            inner: Arc::new(BarInner {
                bar,
                total: self.total.clone(),
                counted: AtomicU64::new(0),
                label: label.to_owned(),
                started: Instant::now(),
                progress: self.clone(),
            }),
        }
    }

    /// A bar for packing `bytes` into `file`.
    pub fn packing(&self, file: &str, bytes: u64) -> Bar {
        let bar = (self.mode == Mode::Bars).then(|| {
            self.multi.add(
                ProgressBar::new(bytes)
                    .with_style(style("{prefix:>28} {bytes:>10}/{total_bytes:10} {binary_bytes_per_sec:>12} [{wide_bar}] {eta}"))
                    .with_prefix(format!("packing {file}")),
            )
        });
        self.line(&format!("packing {file} ({} of entries)", HumanBytes(bytes)));
        Bar {
            inner: Arc::new(BarInner {
                bar,
                total: None,
                counted: AtomicU64::new(0),
                label: file.to_owned(),
                started: Instant::now(),
                progress: self.clone(),
            }),
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> ")
}

/// One bar; cheap to clone, safe to share across threads.
#[derive(Clone)]
pub struct Bar {
    inner: Arc<BarInner>,
}

struct BarInner {
    bar: Option<ProgressBar>,
    total: Option<ProgressBar>,
    counted: AtomicU64,
    label: String,
    started: Instant,
    progress: Progress,
}

impl Bar {
    /// Counts `bytes` more.
    pub fn inc(&self, bytes: u64) {
        self.inner.counted.fetch_add(bytes, Ordering::Relaxed);
        if let Some(bar) = &self.inner.bar {
            bar.inc(bytes);
        }
        if let Some(total) = &self.inner.total {
            total.inc(bytes);
        }
    }

    /// Back to zero, for a retried download.
    pub fn reset(&self) {
        let counted = self.inner.counted.swap(0, Ordering::Relaxed);
        if let Some(bar) = &self.inner.bar {
            bar.set_position(0);
        }
        if let Some(total) = &self.inner.total {
            total.set_position(total.position().saturating_sub(counted));
        }
    }

    /// Done: clears the bar, or logs the time taken in plain mode.
    pub fn finish(&self, what: &str) {
        if let Some(bar) = &self.inner.bar {
            bar.finish_and_clear();
        }
        if self.inner.progress.mode == Mode::Plain {
            let counted = self.inner.counted.load(Ordering::Relaxed);
            self.inner.progress.line(&format!(
                "{what} {} ({}) in {:.1?}",
                self.inner.label,
                HumanBytes(counted),
                self.inner.started.elapsed()
            ));
        }
    }
}
