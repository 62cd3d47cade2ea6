//! `hnsw_eval_autogen(index, eval_name, n_queries [, k])`: samples `n_queries`
//! of the index's own vectors (seeded by the index and eval names, so it is
//! reproducible) and stores them with their exact top-`k` neighbours (default
//! 10) as an eval set for `hnsw_trial`. Listed in `lakehouse.hnsw_evals`.

use lakehouse_catalog::pg_catalog::{OwnFunction, OwnFunctionResult};
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{TableFunctionImpl, TableProvider};
use datafusion::error::Result;
use datafusion::logical_expr::Expr;

use crate::deferred::DeferredTable;
use crate::{FunctionEnv, UdfError, args};

const FUNCTION: &str = "hnsw_eval_autogen";
/// Most queries an eval set may hold (each costs a brute-force scan).
const MAX_QUERIES: usize = 10_000;

fn result_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new("index_name", DataType::Utf8, false),
            Field::new("eval_name", DataType::Utf8, false),
            Field::new("n_queries", DataType::Int64, false),
            Field::new("k", DataType::Int64, false),
            Field::new("seed", DataType::Int64, false),
        ]))
    });
    SCHEMA.clone()
}

#[derive(Debug)]
pub struct HnswEvalAutogen {
    env: FunctionEnv,
    user: String,
}

impl HnswEvalAutogen {
    pub fn new(env: FunctionEnv, user: String) -> Self {
        HnswEvalAutogen { env, user }
    }
}

impl TableFunctionImpl for HnswEvalAutogen {
    fn call(&self, call: &[Expr]) -> Result<Arc<dyn TableProvider>> {
        args::arity(
            call,
            3..=4,
            FUNCTION,
            "hnsw_eval_autogen(index, eval_name, n_queries [, k])",
        )?;
        let index = args::required_text(call, 0, FUNCTION, "index")?;
        let eval = args::required_text(call, 1, FUNCTION, "eval_name")?;
        let n_queries = args::positive_int(call, 2, FUNCTION, "n_queries")?.unwrap_or(100);
        let k = args::positive_int(call, 3, FUNCTION, "k")?.unwrap_or(10);
        if n_queries > MAX_QUERIES {
            return Err(UdfError::InvalidArgument {
                function: FUNCTION,
                message: format!("n_queries={n_queries} is above {MAX_QUERIES}"),
            }
            .into());
        }
        let label = format!("HnswEvalAutogenExec: index={index}, eval={eval}, n={n_queries}");
        let (env, user) = (self.env.clone(), self.user.clone());
        Ok(Arc::new(DeferredTable::from_fn(
            label,
            result_schema(),
            move |_session| {
                let (env, user, index, eval) =
                    (env.clone(), user.clone(), index.clone(), eval.clone());
                async move {
                    let set = env
                        .vectors
                        .create_eval(&index, &eval, n_queries, k, &user)
                        .await
                        .map_err(UdfError::from)?;
                    Ok(RecordBatch::try_new(
                        result_schema(),
                        vec![
                            Arc::new(StringArray::from(vec![set.index_name])),
                            Arc::new(StringArray::from(vec![set.eval_name])),
                            Arc::new(Int64Array::from(vec![set.query_rows.len() as i64])),
                            Arc::new(Int64Array::from(vec![set.k as i64])),
                            Arc::new(Int64Array::from(vec![set.seed as i64])),
                        ],
                    )?)
                }
            },
        )))
    }
}

/// How `pg_proc` lists `hnsw_eval_autogen`.
pub(crate) fn description() -> OwnFunction {
    OwnFunction {
        name: FUNCTION,
        arguments: vec![
            ("index", DataType::Utf8),
            ("eval_name", DataType::Utf8),
            ("n_queries", DataType::Int32),
            ("k", DataType::Int32),
        ],
        defaults: vec!["10"],
        result: OwnFunctionResult::Rows(result_schema()),
        volatile: true,
        description: "samples queries from a vector index and records their exact nearest neighbours as an evaluation set",
    }
}
