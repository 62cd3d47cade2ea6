//! A `tokenizers::Tokenizer` rebuilt from a GGUF file's own metadata.
//!
//! GGUF llama-family chat models such as SmolLM2 carry a GPT-2 byte-level BPE
//! vocabulary (`tokenizer.ggml.tokens`, `.merges`, `.token_type`). Their original
//! HF tokenizer splits digits individually and adds no prefix space; candle's
//! `TokenizerFromGguf` adds one, which shifts every token of the prompt. So the
//! pipeline is rebuilt here: Digits(individual) → ByteLevel(no prefix space), with
//! control tokens (`<|im_start|>`, `<|im_end|>`...) as special added tokens.

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BPE, Merges, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, Tokenizer};

/// GGUF `token_type` values that mark tokens the BPE model must not split.
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;

fn strings(content: &Content, key: &str) -> Result<Vec<String>, String> {
    let values = content
        .metadata
        .get(key)
        .ok_or_else(|| format!("GGUF metadata has no {key}"))?
        .to_vec()
        .map_err(|e| format!("{key}: {e}"))?;
    values
        .iter()
        .map(|v| v.to_string().cloned().map_err(|e| format!("{key}: {e}")))
        .collect()
}

fn token_types(content: &Content, len: usize) -> Vec<i32> {
    let Some(Ok(values)) = content
        .metadata
        .get("tokenizer.ggml.token_type")
        .map(Value::to_vec)
    else {
        return vec![1; len];
    };
    values.iter().map(|v| v.to_i32().unwrap_or(1)).collect()
}

/// Builds the tokenizer; errors name the metadata key that is missing or wrong.
pub(crate) fn tokenizer_from_gguf(content: &Content) -> Result<Tokenizer, String> {
    let model = content
        .metadata
        .get("tokenizer.ggml.model")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .unwrap_or_default();
    if model != "gpt2" {
        return Err(format!(
            "tokenizer.ggml.model is \"{model}\"; only GPT-2 byte-level BPE (\"gpt2\") is supported"
        ));
    }
    let tokens = strings(content, "tokenizer.ggml.tokens")?;
    let merges: Merges = strings(content, "tokenizer.ggml.merges")?
        .into_iter()
        .filter_map(|m| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        })
        .collect();
    let vocab: Vocab = tokens
        .iter()
        .enumerate()
        .map(|(id, token)| (token.clone(), id as u32))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| format!("BPE: {e}"))?;

    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer.with_pre_tokenizer(Some(Sequence::new(vec![
        Digits::new(true).into(),
        ByteLevel::new(false, true, true).into(),
    ])));
    tokenizer.with_decoder(Some(ByteLevelDecoder::default()));
    let special: Vec<AddedToken> = tokens
        .iter()
        .zip(token_types(content, tokens.len()))
        .filter(|(_, kind)| *kind == CONTROL || *kind == USER_DEFINED)
        .map(|(token, _)| AddedToken::from(token.clone(), true))
        .collect();
    tokenizer
        .add_special_tokens(special)
        .map_err(|e| format!("special tokens: {e}"))?;
    Ok(tokenizer)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// The SmolLM2 GGUF that scripts/fetch-models puts in place (scripts/test
    /// fetches it before running the tests).
    fn smollm2() -> Content {
        let dir = std::env::var_os("LAKEHOUSE_MODELS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../lakehouse-models")
            });
        let path = dir.join("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
        let mut file = std::fs::File::open(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; run scripts/fetch-models", path.display()));
        Content::read(&mut file).expect("GGUF header")
    }

    #[test]
    fn digits_split_and_no_prefix_space() {
        let tokenizer = tokenizer_from_gguf(&smollm2()).expect("tokenizer");
        let encoding = tokenizer.encode("Hello world 2024", false).expect("encode");
        assert_eq!(
            encoding.get_tokens(),
            ["Hello", "Ġworld", "Ġ", "2", "0", "2", "4"]
        );
        let text = "<|im_start|>user\nWho holds a CDL?<|im_end|>\n";
        let encoding = tokenizer.encode(text, false).expect("encode");
        assert_eq!(encoding.get_tokens()[0], "<|im_start|>");
        assert_eq!(
            tokenizer.decode(encoding.get_ids(), false).expect("decode"),
            text
        );
    }
}
