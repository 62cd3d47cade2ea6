//! `hnsw_trial(index, eval_name, m, ef_construction, ef_search [, quantization])`:
//! builds an HNSW graph with those parameters over the index's cached vectors
//! (or reuses the graph an earlier trial built with the same m,
//! ef_construction and quantization), runs the eval set through it one query
//! at a time, and appends the result to `lakehouse.hnsw_trials`, which it
//! returns. The serving generation is not touched.

use datafusion::arrow::datatypes::DataType;
use lakehouse_catalog::pg_catalog::{OwnFunction, OwnFunctionResult};
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::catalog::{TableFunctionImpl, TableProvider};
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use lakehouse_catalog::vector_index::{HnswParams, HnswTrial, Quantization};

use crate::deferred::DeferredTable;
use crate::{FunctionEnv, UdfError, args};

const FUNCTION: &str = "hnsw_trial";

#[derive(Debug)]
pub struct HnswTrialFunction {
    env: FunctionEnv,
    user: String,
}

impl HnswTrialFunction {
    pub fn new(env: FunctionEnv, user: String) -> Self {
        HnswTrialFunction { env, user }
    }
}

/// `m`, `ef_construction`, `ef_search` and the optional quantization from
/// arguments `first..`; shared with the options of `create_vector_index`.
pub(crate) fn hnsw_params(
    call: &[Expr],
    first: usize,
    function: &'static str,
) -> Result<HnswParams, UdfError> {
    let int = |i: usize, what: &str| {
        args::positive_int(call, i, function, what)?.ok_or_else(|| UdfError::InvalidArgument {
            function,
            message: format!("{what} is missing"),
        })
    };
    let quantization = match args::text(call, first + 3, function, "quantization")? {
        None => Quantization::F32,
        Some(q) => q
            .parse()
            .map_err(|message| UdfError::InvalidArgument { function, message })?,
    };
    let params = HnswParams {
        m: int(first, "m")?,
        ef_construction: int(first + 1, "ef_construction")?,
        ef_search: int(first + 2, "ef_search")?,
        quantization,
    };
    check_m(params.m, function)?;
    Ok(params)
}

/// usearch allows any connectivity; past 64 the graph only grows.
pub(crate) fn check_m(m: usize, function: &'static str) -> Result<(), UdfError> {
    if (2..=64).contains(&m) {
        Ok(())
    } else {
        Err(UdfError::InvalidArgument {
            function,
            message: format!("m={m} is outside 2..64"),
        })
    }
}

impl TableFunctionImpl for HnswTrialFunction {
    fn call(&self, call: &[Expr]) -> Result<Arc<dyn TableProvider>> {
        args::arity(
            call,
            5..=6,
            FUNCTION,
            "hnsw_trial(index, eval_name, m, ef_construction, ef_search [, quantization])",
        )?;
        let index = args::required_text(call, 0, FUNCTION, "index")?;
        let eval = args::required_text(call, 1, FUNCTION, "eval_name")?;
        let params = hnsw_params(call, 2, FUNCTION)?;
        let label = format!("HnswTrialExec: index={index}, eval={eval}, {params:?}");
        let (env, user) = (self.env.clone(), self.user.clone());
        Ok(Arc::new(DeferredTable::from_fn(
            label,
            HnswTrial::schema(),
            move |_session| {
                let (env, user, index, eval) =
                    (env.clone(), user.clone(), index.clone(), eval.clone());
                async move {
                    let trial = env
                        .vectors
                        .run_trial(&index, &eval, params, &user)
                        .await
                        .map_err(UdfError::from)?;
                    let batch: RecordBatch =
                        HnswTrial::to_batch(&[trial]).map_err(UdfError::from)?;
                    Ok(batch)
                }
            },
        )))
    }
}

/// How `pg_proc` lists `hnsw_trial`.
pub(crate) fn description() -> OwnFunction {
    OwnFunction {
        name: FUNCTION,
        arguments: vec![
            ("index", DataType::Utf8),
            ("eval_name", DataType::Utf8),
            ("m", DataType::Int32),
            ("ef_construction", DataType::Int32),
            ("ef_search", DataType::Int32),
            ("quantization", DataType::Utf8),
        ],
        defaults: vec!["'f32'"],
        result: OwnFunctionResult::Rows(HnswTrial::schema()),
        volatile: true,
        description: "builds (or reuses) an HNSW generation with these parameters and measures its recall and latency",
    }
}
