//! `to_regclass(text) -> oid`: the oid `pg_class` gives the relation so named,
//! or NULL. A name is `relation` or `schema.relation`, each part as an SQL
//! identifier (unquoted parts fold to lower case); an unqualified name is
//! looked up in `pg_catalog`, then in each schema of the session's
//! `search_path`, as PostgreSQL does. `CAST(<computed text> AS regclass)`
//! (Metabase: `format('%I.%I', schema, table)::regclass`) is rewritten to it.
//! It answers from the snapshot of the last catalog scan ([`PgAnnotations`]),
//! which the server refreshes before planning a statement that calls it.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Int32Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion_pg_catalog::pg_catalog::oid_field::{OID_ALIAS_KEY, kind};
use lakehouse_catalog::pg_catalog::PgAnnotations;

use crate::args::text_column;
use crate::search_path::schemas_searched;
use crate::session_settings::SessionSettings;

#[derive(Debug)]
pub struct ToRegclass {
    signature: Signature,
    annotations: PgAnnotations,
    settings: Arc<dyn SessionSettings>,
}

same_function_identity!(ToRegclass, "to_regclass");

pub fn to_regclass(annotations: PgAnnotations, settings: Arc<dyn SessionSettings>) -> ScalarUDF {
    ScalarUDF::new_from_impl(ToRegclass {
        signature: Signature::exact(vec![DataType::Utf8], Volatility::Stable),
        annotations,
        settings,
    })
}

/// `a.b`, `"My Schema"."T"` -> its parts, unquoted parts in lower case.
pub(crate) fn name_parts(name: &str) -> Option<Vec<String>> {
    let mut parts = vec![String::new()];
    let mut chars = name.trim().chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                parts.last_mut()?.push('"');
            }
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(String::new()),
            c if quoted => parts.last_mut()?.push(c),
            c => parts.last_mut()?.push(c.to_ascii_lowercase()),
        }
    }
    (!quoted && parts.iter().all(|p| !p.is_empty())).then_some(parts)
}

impl ToRegclass {
    fn lookup(&self, name: &str, searched: &[String]) -> Option<i32> {
        match name_parts(name)?.as_slice() {
            [schema, relation] => self.annotations.relation_oid(schema, relation),
            [relation] => searched
                .iter()
                .find_map(|schema| self.annotations.relation_oid(schema, relation)),
            _ => None,
        }
    }
}

impl ScalarUDFImpl for ToRegclass {
    fn name(&self) -> &str {
        "to_regclass"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    /// An oid column, sent as type `oid`.
    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(
            Field::new(self.name(), DataType::Int32, true)
                .with_metadata([(OID_ALIAS_KEY.to_string(), kind::OID.to_string())].into()),
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let names = text_column(&args.args[0], args.number_rows)?;
        let names = names.as_string::<i32>();
        let searched = schemas_searched(self.settings.as_ref());
        let oids: Int32Array = (0..names.len())
            .map(|row| {
                if names.is_null(row) {
                    return None;
                }
                self.lookup(names.value(row), &searched)
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(oids)))
    }
}

#[cfg(test)]
mod tests {
    use super::name_parts;

    #[test]
    fn names_fold_unless_quoted() {
        assert_eq!(
            name_parts("Public.People"),
            Some(vec!["public".into(), "people".into()])
        );
        assert_eq!(
            name_parts("\"My \"\"S\"\"\".t"),
            Some(vec!["My \"S\"".into(), "t".into()])
        );
        assert_eq!(name_parts("a..b"), None);
        assert_eq!(name_parts("\"open"), None);
    }
}
