//! `pg_type_is_visible(oid)` and `pg_function_is_visible(oid)` -> boolean,
//! which SQLAlchemy, pandas, pgjdbc and psql's `\df` call. Every type and
//! function lakehouse has is a built-in of `pg_catalog`, which is always on the
//! search path, so each is visible; NULL gives NULL, as in PostgreSQL.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PgIsVisible {
    name: &'static str,
    signature: Signature,
}

/// `pg_type_is_visible` and `pg_function_is_visible`.
pub fn pg_is_visible_functions() -> Vec<ScalarUDF> {
    ["pg_type_is_visible", "pg_function_is_visible"]
        .into_iter()
        .map(|name| {
            ScalarUDF::new_from_impl(PgIsVisible {
                name,
                signature: Signature::one_of(
                    vec![
                        TypeSignature::Exact(vec![DataType::Int32]),
                        TypeSignature::Exact(vec![DataType::Int64]),
                        TypeSignature::Exact(vec![DataType::UInt32]),
                    ],
                    Volatility::Stable,
                ),
            })
        })
        .collect()
}

impl ScalarUDFImpl for PgIsVisible {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let oids = args.args[0].to_array(args.number_rows)?;
        let visible: BooleanArray = (0..oids.len())
            .map(|i| (!oids.is_null(i)).then_some(true))
            .collect();
        let out: ArrayRef = Arc::new(visible);
        Ok(ColumnarValue::Array(out))
    }
}
