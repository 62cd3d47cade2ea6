//! `pg_get_expr(pg_node_tree, relation oid [, pretty])`: the text of a stored
//! expression (a column default, an index predicate). lakehouse keeps these
//! as SQL text already, so the text is the answer, and a NULL expression
//! (no default, a non-partial index) is NULL, as in PostgreSQL: Metabase and
//! pgjdbc find non-partial indexes by `pg_get_expr(indpred, indrelid) IS NULL`.
//! (datafusion-pg-catalog's version answers '' for everything.)

use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PgGetExpr {
    signature: Signature,
}

pub fn pg_get_expr() -> ScalarUDF {
    ScalarUDF::new_from_impl(PgGetExpr {
        signature: Signature::user_defined(Volatility::Stable),
    })
}

impl ScalarUDFImpl for PgGetExpr {
    fn name(&self) -> &str {
        "pg_get_expr"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types.len() {
            2 => Ok(vec![DataType::Utf8, DataType::Int64]),
            3 => Ok(vec![DataType::Utf8, DataType::Int64, DataType::Boolean]),
            _ => datafusion::common::plan_err!(
                "function pg_get_expr takes (pg_node_tree, oid [, boolean])"
            ),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let expressions = args.args[0].to_array(args.number_rows)?;
        Ok(ColumnarValue::Array(cast(&expressions, &DataType::Utf8)?))
    }
}
