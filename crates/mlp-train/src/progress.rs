//! Progress reporting for long work: an indicatif bar on a terminal, plain
//! lines otherwise, nothing in quiet mode.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How much a long job tells the user while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Progress bars and per-run summaries on stderr.
    Bars,
    /// Nothing but errors: for scripts and tests.
    Quiet,
}

impl Progress {
    /// A bar of `len` steps with a message prefix, hidden when quiet.
    pub fn bar(self, len: u64, prefix: String) -> ProgressBar {
        let bar = match self {
            Progress::Bars => ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr()),
            Progress::Quiet => ProgressBar::hidden(),
        };
        bar.set_style(
            ProgressStyle::with_template("{prefix:>28} [{bar:30}] {pos}/{len} {msg}")
                .expect("the template is valid")
                .progress_chars("=> "),
        );
        bar.set_prefix(prefix);
        bar
    }

    /// A line on stderr unless quiet.
    pub fn note(self, line: impl AsRef<str>) {
        if self == Progress::Bars {
            eprintln!("{}", line.as_ref());
        }
    }
}
