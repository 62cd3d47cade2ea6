//! `regclass_name(oid) -> text`: a relation oid as PostgreSQL prints a
//! `regclass` (`people`, or `lakehouse.jobs` when its schema is not on the
//! search path; quoted where needed). The SQL pre-pass turns a selected
//! `column::regclass` into this call (psql's "Referenced by: TABLE \"people\"").
//! An oid no relation has prints as its number, as in PostgreSQL.

use std::sync::Arc;

use crate::oid_arg::per_oid;
use datafusion::arrow::array::StringArray;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use lakehouse_catalog::pg_catalog::PgAnnotations;

use crate::format::quote_ident;
use crate::session_settings::SessionSettings;

#[derive(Debug)]
pub struct RegclassName {
    signature: Signature,
    annotations: PgAnnotations,
    settings: Arc<dyn SessionSettings>,
}

same_function_identity!(RegclassName, "regclass_name");

pub fn regclass_name(annotations: PgAnnotations, settings: Arc<dyn SessionSettings>) -> ScalarUDF {
    ScalarUDF::new_from_impl(RegclassName {
        signature: Signature::any(1, Volatility::Stable),
        annotations,
        settings,
    })
}

impl ScalarUDFImpl for RegclassName {
    fn name(&self) -> &str {
        "regclass_name"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let searched = crate::search_path::schemas_searched(self.settings.as_ref());
        let names: StringArray = per_oid(&args.args[0], args.number_rows, |oid| {
            let name = i32::try_from(oid)
                .ok()
                .and_then(|o| self.annotations.relation_name(o));
            Some(match name {
                Some((schema, name)) if searched.contains(&schema) => quote_ident(&name),
                Some((schema, name)) => format!("{}.{}", quote_ident(&schema), quote_ident(&name)),
                None => oid.to_string(),
            })
        })?
        .into_iter()
        .collect();
        Ok(ColumnarValue::Array(Arc::new(names)))
    }
}
