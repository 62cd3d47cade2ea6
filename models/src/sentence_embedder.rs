//! `SentenceEmbedder`: BERT sentence embeddings (sentence-transformers style).
//!
//! Tokens → BertModel → mean over the real (unpadded) tokens → L2 normalisation,
//! exactly what sentence-transformers does for all-MiniLM-L6-v2, so cosine
//! similarities agree with it. Texts are embedded in batches: sorted by length so
//! each batch pads only to its own longest text (the shipped tokenizer.json pads
//! every text to 128 tokens; that padding is switched off here).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use tokenizers::{Tokenizer, TruncationParams};

use crate::model_file::{invalid, require, sha256_of};
use crate::{ModelError, ModelIdentity};

/// Longest input, in tokens, before truncation (sentence-transformers'
/// `max_seq_length` for this model).
pub const MAX_TOKENS: usize = 256;

pub struct SentenceEmbedder {
    model: BertModel,
    tokenizer: Tokenizer,
    identity: ModelIdentity,
    dims: usize,
    batch_size: usize,
    device: Device,
}

impl std::fmt::Debug for SentenceEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentenceEmbedder")
            .field("identity", &self.identity)
            .field("dims", &self.dims)
            .finish()
    }
}

/// Loads the weights, storing every dense layer's matrix transposed in memory.
///
/// `Linear` multiplies by `weight.t()`; with the file's (out, in) layout that is a
/// strided view, and gemm repacks the whole matrix on every call: ~10 ms of a
/// 12 ms single-sentence forward pass. Kept as the transpose of a contiguous
/// (in, out) tensor, `weight.t()` is contiguous and gemm uses it in place.
fn load_weights(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>, ModelError> {
    let tensors = candle_core::safetensors::load(path, device).map_err(|e| invalid(path, e))?;
    tensors
        .into_iter()
        .map(|(name, tensor)| {
            let dense =
                name.ends_with(".weight") && tensor.rank() == 2 && !name.contains("embeddings");
            let tensor = if dense {
                tensor.t()?.contiguous()?.t()?
            } else {
                tensor
            };
            Ok((name, tensor))
        })
        .collect()
}

impl SentenceEmbedder {
    /// Loads an HF-format BERT directory (`config.json`, `tokenizer.json`,
    /// `model.safetensors`). `batch_size` texts go through one forward pass.
    pub fn load(dir: &Path, batch_size: usize) -> Result<Self, ModelError> {
        let config_path = require(&dir.join("config.json"))?;
        let tokenizer_path = require(&dir.join("tokenizer.json"))?;
        let weights_path = require(&dir.join("model.safetensors"))?;

        let config_text =
            std::fs::read_to_string(&config_path).map_err(|e| invalid(&config_path, e))?;
        let config: BertConfig =
            serde_json::from_str(&config_text).map_err(|e| invalid(&config_path, e))?;
        let mut tokenizer =
            Tokenizer::from_file(&tokenizer_path).map_err(|e| invalid(&tokenizer_path, e))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS.min(config.max_position_embeddings),
                ..Default::default()
            }))
            .map_err(|e| invalid(&tokenizer_path, e))?;

        let device = Device::Cpu;
        let vb =
            VarBuilder::from_tensors(load_weights(&weights_path, &device)?, DType::F32, &device);
        let model = BertModel::load(vb, &config).map_err(|e| invalid(&weights_path, e))?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        let identity = ModelIdentity {
            name,
            sha256: sha256_of(&weights_path)?,
        };
        Ok(SentenceEmbedder {
            model,
            tokenizer,
            identity,
            dims: config.hidden_size,
            batch_size: batch_size.max(1),
            device,
        })
    }

    pub fn identity(&self) -> &ModelIdentity {
        &self.identity
    }

    /// Length of every embedding (384 for all-MiniLM-L6-v2).
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Unit-length embeddings of `texts`, in the order given.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ModelError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self.tokenizer.encode_batch(texts.to_vec(), true)?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| encodings[i].get_ids().len());

        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for batch in order.chunks(self.batch_size) {
            let width = batch
                .iter()
                .map(|&i| encodings[i].get_ids().len())
                .max()
                .unwrap_or(0)
                .max(1);
            let mut ids = vec![0u32; batch.len() * width];
            let mut mask = vec![0u32; batch.len() * width];
            for (row, &i) in batch.iter().enumerate() {
                let tokens = encodings[i].get_ids();
                ids[row * width..row * width + tokens.len()].copy_from_slice(tokens);
                mask[row * width..row * width + tokens.len()].fill(1);
            }
            let vectors = self.forward(ids, mask, batch.len(), width)?;
            for (row, &i) in batch.iter().enumerate() {
                out[i] = vectors[row].clone();
            }
        }
        Ok(out)
    }

    /// One forward pass over a padded batch; returns normalised mean-pooled rows.
    fn forward(
        &self,
        ids: Vec<u32>,
        mask: Vec<u32>,
        rows: usize,
        width: usize,
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        let ids = Tensor::from_vec(ids, (rows, width), &self.device)?;
        let mask = Tensor::from_vec(mask, (rows, width), &self.device)?;
        let token_types = ids.zeros_like()?;
        let hidden = self.model.forward(&ids, &token_types, Some(&mask))?;
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?;
        let mean = summed.broadcast_div(&counts)?;
        let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f32::MAX)?;
        let unit = mean.broadcast_div(&norms)?;
        Ok(unit.to_vec2::<f32>()?)
    }
}
