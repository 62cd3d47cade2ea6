//! `var_pop` and `stddev_pop` of a single value as PostgreSQL computes
//! them: 0 for a finite value, NaN for an infinite or NaN one. DataFusion's
//! returned 0 for any single value (`var_pop('inf'::float8)` was 0, a wrong
//! answer without an error); its accumulator's own sum of squared
//! deviations already is NaN there, so the rule returns that (its square
//! root for `stddev_pop`). Grouped aggregation (DataFusion's group
//! accumulator divides that sum by the count) was already right.

use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::AggregateUDF;

use crate::wrapped_aggregate::{AggregateRule, wrap_aggregate};

/// `var_pop` (alias `var_population`) and `stddev_pop` over DataFusion's.
pub(crate) fn population_variances() -> [AggregateUDF; 2] {
    use datafusion::functions_aggregate::{stddev, variance};
    [
        wrap_aggregate(
            variance::var_pop_udaf(),
            SingleValueDeviation { sqrt: false },
        ),
        wrap_aggregate(
            stddev::stddev_pop_udaf(),
            SingleValueDeviation { sqrt: true },
        ),
    ]
}

/// The value of one row is its own squared deviation (over 1), not 0.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SingleValueDeviation {
    /// `stddev_pop`: the square root of the variance.
    sqrt: bool,
}

impl AggregateRule for SingleValueDeviation {
    fn changes_finish(&self) -> bool {
        true
    }

    /// The state of DataFusion's variance accumulator (also inside its
    /// stddev one) is `[count, mean, m2]`.
    fn finish(&self, state: &[ScalarValue], value: ScalarValue) -> Result<ScalarValue> {
        match state {
            [
                ScalarValue::UInt64(Some(1)),
                _,
                ScalarValue::Float64(Some(m2)),
            ] => Ok(ScalarValue::Float64(Some(if self.sqrt {
                m2.sqrt()
            } else {
                *m2
            }))),
            _ => Ok(value),
        }
    }
}
