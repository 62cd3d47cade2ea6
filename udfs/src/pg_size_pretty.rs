//! `pg_size_pretty(bigint) -> text`: a byte count as PostgreSQL prints it
//! (`8192 bytes`, `16 kB`, `12 MB`...), which psql's `\dt+` and `\l+` show.
//! Units bytes, kB, MB, GB, TB, PB, chosen and rounded as PostgreSQL does.

use std::sync::Arc;

use datafusion::arrow::array::{AsArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PgSizePretty {
    signature: Signature,
}

pub fn pg_size_pretty() -> ScalarUDF {
    ScalarUDF::new_from_impl(PgSizePretty {
        signature: Signature::user_defined(Volatility::Immutable),
    })
}

/// PostgreSQL's `pg_size_pretty(bigint)` (dbsize.c): below 10240 bytes as
/// bytes; then the size is kept in half units (one extra bit for rounding)
/// while it is 20479 or more, and rounded half away from zero at the end.
fn pretty(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if bytes.abs() < 10 * 1024 {
        return format!("{bytes} bytes");
    }
    let half_rounded = |x: i64| (x + if x < 0 { -1 } else { 1 }) / 2;
    let mut halves = bytes >> 9;
    for (i, unit) in UNITS.iter().enumerate() {
        if halves.abs() < 20 * 1024 - 1 || i == UNITS.len() - 1 {
            return format!("{} {unit}", half_rounded(halves));
        }
        halves >>= 10;
    }
    unreachable!("the last unit returns")
}

impl ScalarUDFImpl for PgSizePretty {
    fn name(&self) -> &str {
        "pg_size_pretty"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 1 {
            return datafusion::common::plan_err!("function pg_size_pretty takes one bigint");
        }
        Ok(vec![DataType::Int64])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let sizes = args.args[0].to_array(args.number_rows)?;
        let out: StringArray = sizes
            .as_primitive::<Int64Type>()
            .iter()
            .map(|b| b.map(pretty))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::pretty;

    #[test]
    fn as_postgres_prints_them() {
        // Values checked against PostgreSQL 15's pg_size_pretty.
        assert_eq!(pretty(0), "0 bytes");
        assert_eq!(pretty(10239), "10239 bytes");
        assert_eq!(pretty(10240), "10 kB");
        assert_eq!(pretty(8192 * 1024), "8192 kB");
        assert_eq!(pretty(12 * 1024 * 1024), "12 MB");
        assert_eq!(pretty(10 * 1024 * 1024 * 1024), "10 GB");
        assert_eq!(pretty(-20480), "-20 kB");
        assert_eq!(pretty(10751), "10 kB");
        assert_eq!(pretty(10752), "11 kB");
    }
}
