//! `rag(question, index [, k])`: answers a question from the `k` chunks of an
//! index nearest to it, with inline citation markers `[1]`, `[2]`...
//!
//! Rows: one per retrieved chunk, in rank order, each carrying the whole
//! `answer` plus that chunk's citation: `rank` (the number its marker uses),
//! `key` (joins back to the source table), `chunk_id`, `snippet`, `distance`,
//! and `cited` (whether the answer's text carries its marker).
//!
//! With a generation model the answer is written by it, prompted with the
//! numbered chunks. Markers are then checked against what was retrieved: a
//! marker for a number that was not retrieved is removed, and when the model
//! cited nothing each answer sentence gets the marker of the retrieved chunk
//! nearest to it, so every citation is one of the rows. Without a model
//! (`generation_model = ""`) the answer is extractive: the retrieved sentences
//! nearest to the question, each with its chunk's marker.

use lakehouse_catalog::pg_catalog::{OwnFunction, OwnFunctionResult};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{
    BooleanArray, Float32Array, Int32Array, RecordBatch, StringArray, UInt32Array,
};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{TableFunctionImpl, TableProvider};
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use lakehouse_catalog::vector_index::{LoadedVectorIndex, SearchHit};
use lakehouse_ingest::chunker::sentences;
use lakehouse_models::ChatMessage;

use crate::args::QueryArg;
use crate::deferred::{DeferredRun, DeferredTable};
use crate::models::Models;
use crate::retrieval::{self, SearchOptions};
use crate::{FunctionEnv, SessionNotices, UdfError, args};

const FUNCTION: &str = "rag";
/// Characters of each chunk shown to the model and returned as the snippet.
const SNIPPET_CHARS: usize = 600;
/// Sentences in an extractive answer.
const EXTRACTIVE_SENTENCES: usize = 3;

const SYSTEM_PROMPT: &str = "You answer questions using only the numbered sources. \
After each statement, cite its source number in brackets, like [1]. \
If the sources do not answer the question, say that you do not know. Be brief.";

pub fn result_schema(key_type: &DataType) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("answer", DataType::Utf8, false),
        Field::new("rank", DataType::Int32, false),
        Field::new("key", key_type.clone(), true),
        Field::new("chunk_id", DataType::Int32, false),
        Field::new("snippet", DataType::Utf8, false),
        Field::new("distance", DataType::Float32, false),
        Field::new("cited", DataType::Boolean, false),
    ]))
}

#[derive(Debug)]
pub struct Rag {
    env: FunctionEnv,
    notices: SessionNotices,
}

impl Rag {
    pub fn new(env: FunctionEnv, notices: SessionNotices) -> Self {
        Rag { env, notices }
    }
}

impl TableFunctionImpl for Rag {
    fn call(&self, call: &[Expr]) -> Result<Arc<dyn TableProvider>> {
        if !(2..=3).contains(&call.len()) {
            return Err(UdfError::InvalidArgument {
                function: FUNCTION,
                message: format!(
                    "rag(question, index [, k]) takes 2 or 3 arguments, got {}",
                    call.len()
                ),
            }
            .into());
        }
        let question = args::required_text(call, 0, FUNCTION, "question")?;
        let index = args::required_text(call, 1, FUNCTION, "index")?;
        let k = args::positive_int(call, 2, FUNCTION, "k")?.unwrap_or(5);
        let key_type = retrieval::key_type(&self.env.vectors, &index)?;
        let schema = result_schema(&key_type);
        let label = format!("RagExec: index={index}, k={k}");
        let (env, notices, out_schema) = (self.env.clone(), self.notices.clone(), schema.clone());
        let run: DeferredRun = Arc::new(move |_session| {
            let (env, notices, schema, question, index) = (
                env.clone(),
                notices.clone(),
                out_schema.clone(),
                question.clone(),
                index.clone(),
            );
            Box::pin(async move { Ok(answer(env, notices, schema, question, index, k).await?) })
        });
        Ok(Arc::new(DeferredTable::new(label, schema, run)))
    }
}

fn snippet(text: &str) -> String {
    match text.char_indices().nth(SNIPPET_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

async fn answer(
    env: FunctionEnv,
    notices: SessionNotices,
    schema: SchemaRef,
    question: String,
    index: String,
    k: usize,
) -> Result<RecordBatch, UdfError> {
    let started = Instant::now();
    let loaded = env.vectors.load(&index).await?;
    let question_vector = retrieval::embed_query(&env.models, &loaded, question.clone()).await?;
    let hits = retrieval::search(
        &env.models,
        &loaded,
        QueryArg::Vector(question_vector.clone()),
        k,
        SearchOptions::default(),
    )
    .await?;
    let retrieval_ms = started.elapsed().as_secs_f64() * 1000.0;

    let models = env.models.clone();
    let max_tokens = env.rag_max_tokens;
    let generator = {
        let models = models.clone();
        crate::run_blocking(move || models.generator())?
    };
    let text = match (&generator, hits.is_empty()) {
        (_, true) => "The index holds no passages to answer from.".to_string(),
        (None, false) => extractive_answer(&models, &loaded, &hits, &question_vector).await?,
        (Some(generator), false) => {
            let mut sources = String::new();
            for (n, hit) in hits.iter().enumerate() {
                let _ = writeln!(
                    sources,
                    "[{}] {}",
                    n + 1,
                    snippet(loaded.chunk_text(hit.row))
                );
            }
            let messages = vec![
                ChatMessage::new("system", SYSTEM_PROMPT),
                ChatMessage::new("user", format!("Sources:\n{sources}\nQuestion: {question}")),
            ];
            let generator = generator.clone();
            let generation =
                tokio::task::spawn_blocking(move || generator.generate(&messages, max_tokens))
                    .await
                    .map_err(|e| UdfError::Internal(e.to_string()))??;
            notices.push(format!(
                "rag: retrieval {retrieval_ms:.0} ms; prompt {} tokens in {:.2} s; generated {} tokens in {:.2} s ({:.1} tokens/s)",
                generation.prompt_tokens,
                generation.prefill_seconds,
                generation.generated_tokens,
                generation.decode_seconds,
                generation.generated_tokens as f64 / generation.decode_seconds.max(1e-9),
            ));
            attach_citations(&models, &loaded, &hits, &generation.text).await?
        }
    };

    let cited: Vec<bool> = (1..=hits.len())
        .map(|n| text.contains(&format!("[{n}]")))
        .collect();
    let n = hits.len();
    let rows = UInt32Array::from_iter_values(hits.iter().map(|h| h.row as u32));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(std::iter::repeat_n(&text, n))),
            Arc::new(Int32Array::from_iter_values(1..=n as i32)),
            take(loaded.keys(), &rows, None)?,
            Arc::new(Int32Array::from_iter_values(
                hits.iter().map(|h| loaded.chunk_id(h.row)),
            )),
            Arc::new(StringArray::from_iter_values(
                hits.iter().map(|h| snippet(loaded.chunk_text(h.row))),
            )),
            Arc::new(Float32Array::from_iter_values(
                hits.iter().map(|h| h.distance),
            )),
            Arc::new(BooleanArray::from(cited)),
        ],
    )?)
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The marker numbers `[n]` in `text`, in order of appearance.
fn markers(text: &str) -> Vec<(std::ops::Range<usize>, usize)> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'['
            && let Some(len) = bytes[i + 1..].iter().position(|&b| b == b']')
        {
            let inner = &text[i + 1..i + 1 + len];
            if !inner.is_empty()
                && inner.len() <= 3
                && inner.bytes().all(|b| b.is_ascii_digit())
                && let Ok(n) = inner.parse()
            {
                out.push((i..i + len + 2, n));
                i += len + 2;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// Keeps markers of retrieved chunks only; if none remain, cites each sentence
/// with the retrieved chunk nearest to it.
async fn attach_citations(
    models: &Arc<Models>,
    loaded: &LoadedVectorIndex,
    hits: &[SearchHit],
    generated: &str,
) -> Result<String, UdfError> {
    let mut text = generated.to_string();
    for (range, n) in markers(generated).into_iter().rev() {
        if n == 0 || n > hits.len() {
            text.replace_range(range, "");
        }
    }
    let text = text.trim().to_string();
    if !markers(&text).is_empty() || text.is_empty() {
        return Ok(text);
    }
    let parts = sentences(&text);
    let vectors = models.embed(parts.clone()).await?;
    let mut out = Vec::with_capacity(parts.len());
    for (sentence, vector) in parts.iter().zip(&vectors) {
        let best = hits
            .iter()
            .enumerate()
            .max_by(|(_, a), (_, b)| {
                cosine(loaded.vector(a.row), vector)
                    .total_cmp(&cosine(loaded.vector(b.row), vector))
            })
            .map(|(n, _)| n + 1)
            .unwrap_or(1);
        out.push(format!("{sentence} [{best}]"));
    }
    Ok(out.join(" "))
}

/// The retrieved sentences nearest to the question, each with its marker.
async fn extractive_answer(
    models: &Arc<Models>,
    loaded: &LoadedVectorIndex,
    hits: &[SearchHit],
    question: &[f32],
) -> Result<String, UdfError> {
    let mut candidates: Vec<(usize, String)> = Vec::new();
    for (n, hit) in hits.iter().enumerate() {
        for sentence in sentences(loaded.chunk_text(hit.row)) {
            if !candidates.iter().any(|(_, s)| s == &sentence) {
                candidates.push((n + 1, sentence));
            }
        }
    }
    let vectors = models
        .embed(candidates.iter().map(|(_, s)| s.clone()).collect())
        .await?;
    let mut scored: Vec<(f32, usize)> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| (cosine(v, question), i))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let picked: Vec<String> = scored
        .iter()
        .take(EXTRACTIVE_SENTENCES)
        .map(|&(_, i)| format!("{} [{}]", candidates[i].1, candidates[i].0))
        .collect();
    Ok(picked.join(" "))
}

/// How `pg_proc` lists `rag` (the key is the indexed table's).
pub(crate) fn description() -> OwnFunction {
    OwnFunction {
        name: FUNCTION,
        arguments: vec![
            ("question", DataType::Utf8),
            ("index", DataType::Utf8),
            ("k", DataType::Int32),
        ],
        defaults: vec!["5"],
        result: OwnFunctionResult::Rows(result_schema(&DataType::Utf8)),
        volatile: false,
        description: "answers a question from the k nearest chunks of a vector index, with citations",
    }
}

#[cfg(test)]
mod tests {
    use super::markers;

    #[test]
    fn finds_numeric_markers_only() {
        let found: Vec<usize> = markers("A [1], b [23] [x] [] [2")
            .iter()
            .map(|m| m.1)
            .collect();
        assert_eq!(found, vec![1, 23]);
    }
}
