//! The oid argument of the catalog functions (`regclass_name`,
//! `pg_table_is_visible`, `pg_get_userbyid`): any integer type, read one row
//! at a time; a NULL oid gives NULL, as in PostgreSQL.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::error::Result;
use datafusion::logical_expr::ColumnarValue;

/// `answer(oid)` for each of `rows` rows of `arg`; NULL where the oid is NULL.
pub fn per_oid<T>(
    arg: &ColumnarValue,
    rows: usize,
    mut answer: impl FnMut(i64) -> Option<T>,
) -> Result<Vec<Option<T>>> {
    let oids = cast(&arg.to_array(rows)?, &DataType::Int64)?;
    let oids = oids.as_primitive::<Int64Type>();
    Ok((0..oids.len())
        .map(|row| {
            if oids.is_null(row) {
                None
            } else {
                answer(oids.value(row))
            }
        })
        .collect())
}
