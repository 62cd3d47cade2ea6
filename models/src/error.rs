//! Errors from loading and running models.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A model file the configuration names does not exist.
    #[error("model file \"{}\" not found: {}", path.display(), crate::FETCH_HINT)]
    Missing { path: PathBuf },
    /// The file exists but is not a usable model of the expected kind.
    #[error("cannot load model \"{}\": {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    /// A failure while running the model.
    #[error("model inference failed: {0}")]
    Inference(String),
}

impl From<candle_core::Error> for ModelError {
    fn from(e: candle_core::Error) -> Self {
        ModelError::Inference(e.to_string())
    }
}

impl From<tokenizers::Error> for ModelError {
    fn from(e: tokenizers::Error) -> Self {
        ModelError::Inference(format!("tokenizer: {e}"))
    }
}
