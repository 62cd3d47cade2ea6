//! `Models`: the configured embedding and generation models, loaded on first use
//! and shared by every session and job.
//!
//! Loading takes ~0.5 s (BERT) and ~2 s (the GGUF re-quantization), so it happens
//! once, under a lock, on a blocking thread; a missing file is an error that says
//! how to fetch it, raised where a query first needs the model.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use lakehouse_models::{ChatGenerator, SentenceEmbedder};

use crate::UdfError;

#[derive(Debug)]
pub struct Models {
    embedding_path: PathBuf,
    generation_path: Option<PathBuf>,
    embed_batch_size: usize,
    embedder: Mutex<Option<Arc<SentenceEmbedder>>>,
    generator: Mutex<Option<Arc<ChatGenerator>>>,
}

impl Models {
    pub fn new(
        embedding_path: PathBuf,
        generation_path: Option<PathBuf>,
        embed_batch_size: usize,
    ) -> Self {
        Models {
            embedding_path,
            generation_path,
            embed_batch_size,
            embedder: Mutex::new(None),
            generator: Mutex::new(None),
        }
    }

    /// The sentence embedder, loading it on first call (blocking).
    pub fn embedder(&self) -> Result<Arc<SentenceEmbedder>, UdfError> {
        let mut slot = self.embedder.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(model) = slot.as_ref() {
            return Ok(model.clone());
        }
        let model = Arc::new(SentenceEmbedder::load(
            &self.embedding_path,
            self.embed_batch_size,
        )?);
        tracing::info!(model = %model.identity().name, "embedding model loaded");
        *slot = Some(model.clone());
        Ok(model)
    }

    /// The chat model, or `None` when generation is switched off (blocking).
    pub fn generator(&self) -> Result<Option<Arc<ChatGenerator>>, UdfError> {
        let Some(path) = &self.generation_path else {
            return Ok(None);
        };
        let mut slot = self.generator.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(model) = slot.as_ref() {
            return Ok(Some(model.clone()));
        }
        let model = Arc::new(ChatGenerator::load(path)?);
        tracing::info!(model = %model.identity().name, "generation model loaded");
        *slot = Some(model.clone());
        Ok(Some(model))
    }

    /// Embeds `texts` on a blocking thread (model inference must not stall the
    /// async workers that serve other sessions).
    pub async fn embed(self: &Arc<Self>, texts: Vec<String>) -> Result<Vec<Vec<f32>>, UdfError> {
        let models = self.clone();
        tokio::task::spawn_blocking(move || {
            let embedder = models.embedder()?;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            Ok(embedder.embed(&refs)?)
        })
        .await
        .map_err(|e| UdfError::Internal(e.to_string()))?
    }
}
