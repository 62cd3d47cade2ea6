//! `pg_table_is_visible(oid) -> boolean`: whether a relation's schema is on
//! the session's search path (pg_catalog first, `$user` as the session's
//! role), as PostgreSQL decides what an unqualified name finds. psql's `\dt`,
//! `\dv` and tab completion and SQLAlchemy's default-schema listings filter by
//! it. (datafusion-pg-catalog's answers true for every oid.) An oid that is no
//! relation gives NULL, as in PostgreSQL. Answers from the catalog snapshot.

use std::sync::Arc;

use crate::oid_arg::per_oid;
use datafusion::arrow::array::BooleanArray;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use lakehouse_catalog::pg_catalog::PgAnnotations;

use crate::search_path::schemas_searched;
use crate::session_settings::SessionSettings;

#[derive(Debug)]
pub struct PgTableIsVisible {
    signature: Signature,
    annotations: PgAnnotations,
    settings: Arc<dyn SessionSettings>,
}

same_function_identity!(PgTableIsVisible, "pg_table_is_visible");

pub fn pg_table_is_visible(
    annotations: PgAnnotations,
    settings: Arc<dyn SessionSettings>,
) -> ScalarUDF {
    ScalarUDF::new_from_impl(PgTableIsVisible {
        signature: Signature::any(1, Volatility::Stable),
        annotations,
        settings,
    })
}

impl ScalarUDFImpl for PgTableIsVisible {
    fn name(&self) -> &str {
        "pg_table_is_visible"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let searched = schemas_searched(self.settings.as_ref());
        let visible: BooleanArray = per_oid(&args.args[0], args.number_rows, |oid| {
            let (schema, _) = self.annotations.relation_name(i32::try_from(oid).ok()?)?;
            Some(searched.contains(&schema))
        })?
        .into_iter()
        .collect();
        Ok(ColumnarValue::Array(Arc::new(visible)))
    }
}
