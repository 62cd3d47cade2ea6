//! `regtype_names(oids text) -> text[]`: a list of type oids as PostgreSQL's
//! `oids::regtype[]::text[]` prints it (`{integer,text}`). pg_proc keeps its
//! `proargtypes` / `proallargtypes` as text here (`2276 25`, `[2276, 25]`),
//! so the SQL pre-pass turns `<column>::regtype[]` into this call (pgcli's
//! function list). An oid with no type prints as its number.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, ListBuilder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::args::text_column;
use crate::to_regtype::TypeOids;

#[derive(Debug)]
pub struct RegtypeNames {
    signature: Signature,
    types: Arc<TypeOids>,
}

same_function_identity!(RegtypeNames, "regtype_names");

pub fn regtype_names(types: Arc<TypeOids>) -> ScalarUDF {
    ScalarUDF::new_from_impl(RegtypeNames {
        signature: Signature::any(1, Volatility::Stable),
        types,
    })
}

impl ScalarUDFImpl for RegtypeNames {
    fn name(&self) -> &str {
        "regtype_names"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Utf8,
            true,
        ))))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let lists = text_column(&args.args[0], args.number_rows)?;
        let lists = lists.as_string::<i32>();
        let mut out = ListBuilder::new(StringBuilder::new());
        for row in 0..lists.len() {
            if lists.is_null(row) {
                out.append_null();
                continue;
            }
            let oids = lists
                .value(row)
                .split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty());
            for oid in oids {
                let name = oid
                    .parse::<i32>()
                    .ok()
                    .and_then(|o| self.types.sql_name(o))
                    .unwrap_or_else(|| oid.to_string());
                out.values().append_value(name);
            }
            out.append(true);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}
