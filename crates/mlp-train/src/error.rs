use std::path::PathBuf;

/// Errors of training, studies and their outputs. Each names the file, flag or
/// value at fault.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Data(#[from] mlp_data::DataError),
    #[error("invalid {flag}: {message}")]
    InvalidArgument { flag: &'static str, message: String },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot write CSV {path}: {source}")]
    Csv { path: PathBuf, source: csv::Error },
    #[error("cannot draw plot {path}: {message}")]
    Plot { path: PathBuf, message: String },
}

impl TrainError {
    pub(crate) fn invalid(flag: &'static str, message: impl Into<String>) -> Self {
        TrainError::InvalidArgument {
            flag,
            message: message.into(),
        }
    }
}
