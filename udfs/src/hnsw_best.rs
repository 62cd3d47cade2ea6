//! `hnsw_best(index, 'recall' | 'latency' | 'pareto')`: the best trial of an
//! index from `lakehouse.hnsw_trials` — highest recall (ties: lower p50),
//! lowest p50 (ties: higher recall), or the Pareto front (every trial no other
//! beats on both recall and p50, highest recall first). Rows have the journal's
//! columns, so `trial_id` feeds `hnsw_apply`.

use datafusion::arrow::datatypes::DataType;
use lakehouse_catalog::pg_catalog::{OwnFunction, OwnFunctionResult};
use std::sync::Arc;

use datafusion::catalog::{TableFunctionImpl, TableProvider};
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use lakehouse_catalog::vector_index::{HnswTrial, TrialRanking, best_trials};

use crate::deferred::DeferredTable;
use crate::{FunctionEnv, UdfError, args};

const FUNCTION: &str = "hnsw_best";

#[derive(Debug)]
pub struct HnswBest {
    env: FunctionEnv,
}

impl HnswBest {
    pub fn new(env: FunctionEnv) -> Self {
        HnswBest { env }
    }
}

impl TableFunctionImpl for HnswBest {
    fn call(&self, call: &[Expr]) -> Result<Arc<dyn TableProvider>> {
        args::arity(
            call,
            1..=2,
            FUNCTION,
            "hnsw_best(index [, 'recall' | 'latency' | 'pareto'])",
        )?;
        let index = args::required_text(call, 0, FUNCTION, "index")?;
        let ranking: TrialRanking = args::text(call, 1, FUNCTION, "ranking")?
            .as_deref()
            .unwrap_or("recall")
            .parse()
            .map_err(|message| UdfError::InvalidArgument {
                function: FUNCTION,
                message,
            })?;
        let label = format!("HnswBestExec: index={index}, {ranking:?}");
        let env = self.env.clone();
        Ok(Arc::new(DeferredTable::from_fn(
            label,
            HnswTrial::schema(),
            move |_session| {
                let (env, index) = (env.clone(), index.clone());
                async move {
                    env.vectors.require(&index).map_err(UdfError::from)?;
                    let trials = env
                        .vectors
                        .trials()
                        .of_index(&index)
                        .await
                        .map_err(UdfError::from)?;
                    let best = best_trials(&trials, ranking);
                    Ok(HnswTrial::to_batch(&best).map_err(UdfError::from)?)
                }
            },
        )))
    }
}

/// How `pg_proc` lists `hnsw_best`.
pub(crate) fn description() -> OwnFunction {
    OwnFunction {
        name: FUNCTION,
        arguments: vec![("index", DataType::Utf8), ("ranking", DataType::Utf8)],
        defaults: vec!["'recall'"],
        result: OwnFunctionResult::Rows(HnswTrial::schema()),
        volatile: false,
        description: "the trials of a vector index, best first by recall, latency or the Pareto front",
    }
}
