//! `sum`, typed as PostgreSQL types it: `sum(bigint)` is `numeric`, exact
//! however large. DataFusion's `sum(bigint)` was a `bigint` that wrapped
//! around silently (`sum` of `9223372036854775807` and `1` gave
//! `-9223372036854775808`). Here a `bigint` argument is coerced to
//! `numeric(38,0)` (PostgreSQL's result type; 38 digits hold the sum of
//! more `bigint` rows than any table has) and every other argument type as
//! DataFusion coerces it; the adding is DataFusion's own `sum`.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::AggregateUDF;

use crate::builtin_coercion::coerced_as_builtin;
use crate::wrapped_aggregate::{AggregateRule, wrap_aggregate};

/// The type `sum(bigint)` adds in and returns.
const SUM_OF_BIGINT: DataType = DataType::Decimal128(38, 0);

/// PostgreSQL-typed `sum` over DataFusion's.
pub(crate) fn sum() -> AggregateUDF {
    wrap_aggregate(
        datafusion::functions_aggregate::sum::sum_udaf(),
        BigintSumIsNumeric,
    )
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct BigintSumIsNumeric;

impl AggregateRule for BigintSumIsNumeric {
    fn coerce_types(
        &self,
        builtin: &AggregateUDF,
        arg_types: &[DataType],
    ) -> Result<Vec<DataType>> {
        if let [DataType::Int64 | DataType::UInt64] = arg_types {
            return Ok(vec![SUM_OF_BIGINT]);
        }
        coerced_as_builtin(builtin, arg_types)
    }
}
