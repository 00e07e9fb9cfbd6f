use std::path::PathBuf;

/// Errors of training, studies and their outputs. Each names the file, flag or
/// value at fault.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Data(#[from] mlp_data::DataError),
    #[error("invalid {flag}: {message}")]
    InvalidArgument { flag: &'static str, message: String },
    #[error("cannot write {}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot write CSV {}", path.display())]
    Csv { path: PathBuf, source: csv::Error },
    #[error("cannot draw plot {path}: {message}")]
    Plot { path: PathBuf, message: String },
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    /// A run saw the stop signal (Ctrl-C) and stopped within one step. A
    /// job turns this into [`TrainError::Interrupted`], which says what it saved.
    #[error("stopped before the run finished")]
    Stopped,
    /// The stop signal (Ctrl-C) stopped a job; every finished run is saved.
    #[error("interrupted: {finished} of {total} runs are finished and saved in {}", dir.display())]
    Interrupted {
        dir: PathBuf,
        finished: usize,
        total: usize,
    },
    #[error(
        "{} already holds {runs} finished runs; add --resume to finish that job, \
         --overwrite to replace it, or choose another --out",
        dir.display()
    )]
    ExistingResults { dir: PathBuf, runs: usize },
    #[error("--resume: {} holds a job started with other arguments ({differences}); \
             rerun with the arguments saved in {}, or use --overwrite or another --out",
            dir.display(), config.display())]
    ResumeMismatch {
        dir: PathBuf,
        config: PathBuf,
        differences: String,
    },
    #[error("cannot merge: {0}")]
    Merge(String),
    #[error(
        "--resume: {} holds {runs} finished runs but not the configuration they were run with, \
         so the arguments cannot be checked; use --overwrite or another --out",
        dir.display()
    )]
    Unresumable { dir: PathBuf, runs: usize },
    /// The run would not fit in memory (see [`crate::memory`]); nothing was trained or written.
    #[error("not enough memory: {0}")]
    Memory(String),
    #[error("{} is in use by another mlp-cli job; wait for it to end or choose another --out", dir.display())]
    Busy { dir: PathBuf },
}

impl TrainError {
    pub(crate) fn invalid(flag: &'static str, message: impl Into<String>) -> Self {
        TrainError::InvalidArgument {
            flag,
            message: message.into(),
        }
    }
}
