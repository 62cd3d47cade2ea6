//! The argument types a DataFusion built-in would coerce to, for functions
//! that wrap a built-in and change its typing only for some arguments
//! (`sum(bigint)`, `length(bytea)`).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::Result;
use datafusion::logical_expr::type_coercion::functions::{UDFCoercionExt, fields_with_udf};

/// `arg_types` as `builtin`'s own signature coerces them.
pub(crate) fn coerced_as_builtin(
    builtin: &impl UDFCoercionExt,
    arg_types: &[DataType],
) -> Result<Vec<DataType>> {
    let fields: Vec<FieldRef> = arg_types
        .iter()
        .map(|t| Arc::new(Field::new("", t.clone(), true)))
        .collect();
    Ok(fields_with_udf(&fields, builtin)?
        .iter()
        .map(|f| f.data_type().clone())
        .collect())
}
