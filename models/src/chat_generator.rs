//! `ChatGenerator`: text generation with a llama-family GGUF model on candle.
//!
//! Load: every 4/5-bit tensor is re-quantized to Q8_0 (candle's Q4_1 kernels decode
//! ~30x slower on two threads than Q8_0), the result is written to an in-memory GGUF
//! and handed to candle's quantized llama. The tokenizer and the chat template come
//! from the file's metadata; generation is greedy with a repeat penalty and stops at
//! `<|im_end|>` / end-of-text or after `max_tokens`.

use std::io::Cursor;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use candle_core::quantized::gguf_file::{self, Content};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use candle_transformers::models::quantized_llama::ModelWeights;
use candle_transformers::utils::apply_repeat_penalty;
use serde::Serialize;
use tokenizers::Tokenizer;

use crate::gguf_tokenizer::tokenizer_from_gguf;
use crate::model_file::{invalid, require, sha256_of};
use crate::{ModelError, ModelIdentity};

/// Penalty on logits of recently generated tokens; 1.1 over the last 64 keeps
/// a 135M model from looping without hurting factual copying much.
const REPEAT_PENALTY: f32 = 1.1;
const REPEAT_WINDOW: usize = 64;

/// ChatML, the format of SmolLM2 and many small chat models; used when a GGUF
/// carries no `tokenizer.chat_template`.
const CHATML_TEMPLATE: &str = "{% for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

#[derive(Debug, Clone, Serialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: &str, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.to_string(),
            content: content.into(),
        }
    }
}

/// One completion and its costs.
#[derive(Debug, Clone)]
pub struct Generation {
    pub text: String,
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    /// Time to run the prompt through the model (prefill).
    pub prefill_seconds: f64,
    /// Time spent producing the generated tokens after prefill.
    pub decode_seconds: f64,
}

pub struct ChatGenerator {
    /// The KV cache lives in the model, so one generation runs at a time.
    model: Mutex<ModelWeights>,
    tokenizer: Tokenizer,
    template: String,
    bos_token: String,
    eos_token: String,
    stop_ids: Vec<u32>,
    context_length: usize,
    identity: ModelIdentity,
}

impl std::fmt::Debug for ChatGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatGenerator")
            .field("identity", &self.identity)
            .finish()
    }
}

fn metadata_string(content: &Content, key: &str) -> Option<String> {
    content
        .metadata
        .get(key)
        .and_then(|v| v.to_string().ok())
        .cloned()
}

fn metadata_u32(content: &Content, key: &str) -> Option<u32> {
    content.metadata.get(key).and_then(|v| v.to_u32().ok())
}

/// Re-quantizes the slow low-bit formats to Q8_0 and returns an in-memory GGUF.
fn requantized_gguf(path: &Path) -> Result<Cursor<Vec<u8>>, ModelError> {
    let mut file = std::fs::File::open(path).map_err(|e| invalid(path, e))?;
    let content = Content::read(&mut file).map_err(|e| invalid(path, e))?;
    let device = Device::Cpu;
    let mut tensors: Vec<(String, QTensor)> = Vec::with_capacity(content.tensor_infos.len());
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    for name in names {
        let tensor = content
            .tensor(&mut file, name, &device)
            .map_err(|e| invalid(path, e))?;
        let tensor = match tensor.dtype() {
            GgmlDType::Q4_0 | GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1 => {
                let dense = tensor.dequantize(&device)?;
                // Q8_0 needs rows that are a multiple of its 32-value block.
                QTensor::quantize(&dense, GgmlDType::Q8_0).unwrap_or(tensor)
            }
            _ => tensor,
        };
        tensors.push((name.clone(), tensor));
    }
    let metadata: Vec<(&str, &gguf_file::Value)> = content
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut out = Cursor::new(Vec::new());
    gguf_file::write(&mut out, &metadata, &refs).map_err(|e| invalid(path, e))?;
    out.set_position(0);
    Ok(out)
}

impl ChatGenerator {
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let path = require(path)?;
        let mut gguf = requantized_gguf(&path)?;
        let content = Content::read(&mut gguf).map_err(|e| invalid(&path, e))?;
        let tokenizer = tokenizer_from_gguf(&content).map_err(|e| invalid(&path, e))?;
        let template = metadata_string(&content, "tokenizer.chat_template")
            .unwrap_or_else(|| CHATML_TEMPLATE.to_string());
        let token_text = |key: &str| {
            metadata_u32(&content, key)
                .and_then(|id| tokenizer.id_to_token(id))
                .unwrap_or_default()
        };
        let bos_token = token_text("tokenizer.ggml.bos_token_id");
        let eos_token = token_text("tokenizer.ggml.eos_token_id");
        let mut stop_ids: Vec<u32> = ["<|im_end|>", "<|endoftext|>", "<|eot_id|>"]
            .iter()
            .filter_map(|t| tokenizer.token_to_id(t))
            .collect();
        if let Some(eos) = metadata_u32(&content, "tokenizer.ggml.eos_token_id") {
            stop_ids.push(eos);
        }
        let context_length =
            metadata_u32(&content, "llama.context_length").unwrap_or(2048) as usize;
        let model = ModelWeights::from_gguf(content, &mut gguf, &Device::Cpu)
            .map_err(|e| invalid(&path, e))?;
        let name = path
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let identity = ModelIdentity {
            name,
            sha256: sha256_of(&path)?,
        };
        Ok(ChatGenerator {
            model: Mutex::new(model),
            tokenizer,
            template,
            bos_token,
            eos_token,
            stop_ids,
            context_length,
            identity,
        })
    }

    pub fn identity(&self) -> &ModelIdentity {
        &self.identity
    }

    /// The prompt text the chat template makes of `messages`.
    pub fn render_prompt(&self, messages: &[ChatMessage]) -> Result<String, ModelError> {
        let mut env = minijinja::Environment::new();
        env.add_function(
            "raise_exception",
            |message: String| -> Result<String, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    message,
                ))
            },
        );
        let template = env
            .template_from_str(&self.template)
            .map_err(|e| ModelError::Inference(format!("chat template: {e}")))?;
        template
            .render(minijinja::context! {
                messages => messages,
                add_generation_prompt => true,
                bos_token => &self.bos_token,
                eos_token => &self.eos_token,
            })
            .map_err(|e| ModelError::Inference(format!("chat template: {e}")))
    }

    /// Token ids of `text` as the model sees it (special tokens recognised).
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        Ok(self.tokenizer.encode(text, false)?.get_ids().to_vec())
    }

    /// Greedy completion of the chat, at most `max_tokens` new tokens.
    pub fn generate(
        &self,
        messages: &[ChatMessage],
        max_tokens: usize,
    ) -> Result<Generation, ModelError> {
        let prompt = self.render_prompt(messages)?;
        let mut tokens = self.tokenize(&prompt)?;
        let budget = self.context_length.saturating_sub(max_tokens).max(1);
        if tokens.len() > budget {
            // Keep the end: it holds the question and the assistant turn.
            tokens.drain(..tokens.len() - budget);
        }
        let prompt_tokens = tokens.len();
        let mut model = self
            .model
            .lock()
            .map_err(|_| ModelError::Inference("generator poisoned by an earlier panic".into()))?;
        model.clear_kv_cache();
        let mut sampler = LogitsProcessor::from_sampling(0, Sampling::ArgMax);
        let device = Device::Cpu;

        let started = Instant::now();
        let input = Tensor::new(tokens.as_slice(), &device)?.unsqueeze(0)?;
        let mut logits = model.forward(&input, 0)?.squeeze(0)?;
        let prefill_seconds = started.elapsed().as_secs_f64();

        let decode_started = Instant::now();
        let mut generated: Vec<u32> = Vec::new();
        while generated.len() < max_tokens {
            let window_start = generated.len().saturating_sub(REPEAT_WINDOW);
            let penalised =
                apply_repeat_penalty(&logits, REPEAT_PENALTY, &generated[window_start..])?;
            let next = sampler.sample(&penalised)?;
            if self.stop_ids.contains(&next) {
                break;
            }
            generated.push(next);
            if prompt_tokens + generated.len() >= self.context_length {
                break;
            }
            let input = Tensor::new(&[next], &device)?.unsqueeze(0)?;
            logits = model
                .forward(&input, prompt_tokens + generated.len() - 1)?
                .squeeze(0)?;
        }
        let decode_seconds = decode_started.elapsed().as_secs_f64();
        let text = self.tokenizer.decode(&generated, true)?;
        Ok(Generation {
            text: text.trim().to_string(),
            prompt_tokens,
            generated_tokens: generated.len(),
            prefill_seconds,
            decode_seconds,
        })
    }
}
