//! `vector_search(index, query, k [, options])`: the `k` chunks nearest to a
//! query text (embedded with the index's model) or a `real[]` vector.
//!
//! Rows: `key` (the source row's key, its original type), `chunk_id`,
//! `chunk_text`, `distance` (cosine distance, 1 - similarity) and `rank` (1 =
//! nearest). Options: `exact` (brute-force scan; the ground truth HNSW results
//! are measured against) and `ef_search=N` (HNSW expansion for this call).

use lakehouse_catalog::pg_catalog::{OwnFunction, OwnFunctionResult};
use std::sync::Arc;

use datafusion::arrow::array::{Float32Array, Int32Array, RecordBatch, StringArray, UInt32Array};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{TableFunctionImpl, TableProvider};
use datafusion::error::Result;
use datafusion::logical_expr::Expr;

use crate::deferred::{DeferredRun, DeferredTable};
use crate::retrieval::{self, SearchOptions};
use crate::{FunctionEnv, UdfError, args};

const FUNCTION: &str = "vector_search";

pub fn result_schema(key_type: &DataType) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("key", key_type.clone(), true),
        Field::new("chunk_id", DataType::Int32, false),
        Field::new("chunk_text", DataType::Utf8, false),
        Field::new("distance", DataType::Float32, false),
        Field::new("rank", DataType::Int32, false),
    ]))
}

#[derive(Debug)]
pub struct VectorSearch {
    env: FunctionEnv,
}

impl VectorSearch {
    pub fn new(env: FunctionEnv) -> Self {
        VectorSearch { env }
    }
}

impl TableFunctionImpl for VectorSearch {
    fn call(&self, call: &[Expr]) -> Result<Arc<dyn TableProvider>> {
        if !(3..=4).contains(&call.len()) {
            return Err(UdfError::InvalidArgument {
                function: FUNCTION,
                message: format!(
                    "vector_search(index, query, k [, options]) takes 3 or 4 arguments, got {}",
                    call.len()
                ),
            }
            .into());
        }
        let index = args::required_text(call, 0, FUNCTION, "index")?;
        let query = args::query(call, 1, FUNCTION)?;
        let k = args::positive_int(call, 2, FUNCTION, "k")?.unwrap_or(10);
        let mut options = SearchOptions::default();
        let text = args::text(call, 3, FUNCTION, "options")?;
        for (key, value) in args::options(text.as_deref(), FUNCTION, &["exact", "ef_search"])? {
            match key.as_str() {
                "exact" => options.exact = args::option_bool(FUNCTION, &key, &value)?,
                _ => options.ef_search = Some(args::option_int(FUNCTION, &key, &value)?),
            }
        }
        let key_type = retrieval::key_type(&self.env.vectors, &index)?;
        let schema = result_schema(&key_type);
        let label = format!("VectorSearchExec: index={index}, k={k}, {options:?}");
        let env = self.env.clone();
        let query = Arc::new(query);
        let out_schema = schema.clone();
        let run: DeferredRun = Arc::new(move |_session| {
            let (env, index, query, schema) = (
                env.clone(),
                index.clone(),
                query.clone(),
                out_schema.clone(),
            );
            Box::pin(async move {
                let loaded = env.vectors.load(&index).await.map_err(UdfError::from)?;
                let hits =
                    retrieval::search(&env.models, &loaded, query.as_ref().clone(), k, options)
                        .await?;
                let rows = UInt32Array::from_iter_values(hits.iter().map(|h| h.row as u32));
                Ok(RecordBatch::try_new(
                    schema,
                    vec![
                        take(loaded.keys(), &rows, None)?,
                        Arc::new(Int32Array::from_iter_values(
                            hits.iter().map(|h| loaded.chunk_id(h.row)),
                        )),
                        Arc::new(StringArray::from_iter_values(
                            hits.iter().map(|h| loaded.chunk_text(h.row)),
                        )),
                        Arc::new(Float32Array::from_iter_values(
                            hits.iter().map(|h| h.distance),
                        )),
                        Arc::new(Int32Array::from_iter_values(1..=hits.len() as i32)),
                    ],
                )?)
            })
        });
        Ok(Arc::new(DeferredTable::new(label, schema, run)))
    }
}

/// How `pg_proc` lists `vector_search` (the key is the indexed table's).
pub(crate) fn description() -> OwnFunction {
    OwnFunction {
        name: FUNCTION,
        arguments: vec![
            ("index", DataType::Utf8),
            ("query", DataType::Utf8),
            ("k", DataType::Int32),
            ("options", DataType::Utf8),
        ],
        defaults: vec!["10", "''"],
        result: OwnFunctionResult::Rows(result_schema(&DataType::Utf8)),
        volatile: false,
        description: "the k chunks of a vector index nearest to a text or a real[] vector",
    }
}
