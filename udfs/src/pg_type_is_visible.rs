//! `pg_type_is_visible(oid) -> boolean`, which SQLAlchemy and pandas call while
//! reflecting columns. Every type lakehouse has is a built-in type of
//! `pg_catalog`, which is always on the search path, so each is visible; NULL
//! gives NULL, as in PostgreSQL.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PgTypeIsVisible {
    signature: Signature,
}

pub fn pg_type_is_visible() -> ScalarUDF {
    ScalarUDF::new_from_impl(PgTypeIsVisible {
        signature: Signature::one_of(
            vec![
                TypeSignature::Exact(vec![DataType::Int32]),
                TypeSignature::Exact(vec![DataType::Int64]),
                TypeSignature::Exact(vec![DataType::UInt32]),
            ],
            Volatility::Stable,
        ),
    })
}

impl ScalarUDFImpl for PgTypeIsVisible {
    fn name(&self) -> &str {
        "pg_type_is_visible"
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
