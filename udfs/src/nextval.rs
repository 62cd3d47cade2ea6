//! `nextval(regclass) -> bigint`: advances a sequence and returns its new
//! value (see [`SequenceStore`]). Column defaults of serial and identity
//! columns call it, so it runs once per inserted row. Volatile: never
//! folded into a constant, never shared between rows.
//!
//! A sequence name is `name` or `schema.name`, each part an SQL identifier
//! (unquoted parts fold to lower case); an unqualified name is looked up in
//! the session's `search_path`. Defaults always name their schema.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Int64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use lakehouse_catalog::{CatalogError, DEFAULT_SCHEMA, SequenceStore, TableIdent};

use crate::args::text_column;
use crate::search_path::path_schemas;
use crate::sequence_values::SessionSequenceValues;
use crate::session_settings::SessionSettings;

#[derive(Debug)]
pub struct Nextval {
    signature: Signature,
    sequences: SequenceStore,
    /// The session's `search_path`; `None` for the instance column defaults
    /// call (their names are qualified).
    settings: Option<Arc<dyn SessionSettings>>,
}

same_function_identity!(Nextval, "nextval");

pub fn nextval(sequences: SequenceStore, settings: Option<Arc<dyn SessionSettings>>) -> ScalarUDF {
    ScalarUDF::new_from_impl(Nextval {
        signature: Signature::exact(vec![DataType::Utf8], Volatility::Volatile),
        sequences,
        settings,
    })
}

/// The sequence `name` designates: `schema.name`, or the first schema of
/// the search path holding a sequence so named (the first schema of the
/// path when none does, for the error message).
fn sequence_ident(
    name: &str,
    sequences: &SequenceStore,
    settings: Option<&dyn SessionSettings>,
) -> Result<TableIdent> {
    let parts = crate::to_regclass::name_parts(name).ok_or_else(|| {
        DataFusionError::External(Box::new(CatalogError::InvalidName(
            name.to_string(),
            "not a sequence name".into(),
        )))
    })?;
    match parts.as_slice() {
        [schema, sequence] => Ok(TableIdent::new(schema, sequence)),
        [sequence] => {
            let path = settings.map(path_schemas).unwrap_or_default();
            let ident = path
                .iter()
                .map(|schema| TableIdent::new(schema, sequence))
                .find(|ident| sequences.exists(ident));
            Ok(ident.unwrap_or_else(|| {
                let schema = path.first().map_or(DEFAULT_SCHEMA, String::as_str);
                TableIdent::new(schema, sequence)
            }))
        }
        _ => Err(DataFusionError::External(Box::new(
            CatalogError::InvalidName(name.to_string(), "too many dotted names".into()),
        ))),
    }
}

/// The existing sequence `name` designates (see [`sequence_ident`]); an
/// unknown one is `42P01` naming it as the caller wrote it.
pub(crate) fn existing_sequence(
    name: &str,
    sequences: &SequenceStore,
    settings: Option<&dyn SessionSettings>,
) -> Result<TableIdent> {
    let ident = sequence_ident(name, sequences, settings)?;
    if !sequences.exists(&ident) {
        return Err(DataFusionError::External(Box::new(
            CatalogError::TableNotFound(name.to_string()),
        )));
    }
    Ok(ident)
}

impl ScalarUDFImpl for Nextval {
    fn name(&self) -> &str {
        "nextval"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        per_named_sequence(
            &args,
            &self.sequences,
            self.settings.as_deref(),
            |ident, session| {
                let value = self
                    .sequences
                    .next_value(ident)
                    .map_err(|e| DataFusionError::External(Box::new(e)))?;
                if let Some(session) = session {
                    session.record(ident, value);
                }
                Ok(value)
            },
        )
    }
}

/// `value` of each row's sequence, named by the function's one argument
/// (NULL for a NULL name), with the session's record of sequence values.
pub(crate) fn per_named_sequence(
    args: &ScalarFunctionArgs,
    sequences: &SequenceStore,
    settings: Option<&dyn SessionSettings>,
    mut value: impl FnMut(&TableIdent, Option<&SessionSequenceValues>) -> Result<i64>,
) -> Result<ColumnarValue> {
    let names = text_column(&args.args[0], args.number_rows)?;
    let names = names.as_string::<i32>();
    let session = SessionSequenceValues::of(&args.config_options);
    let mut values = Vec::with_capacity(names.len());
    for row in 0..names.len() {
        if names.is_null(row) {
            values.push(None);
            continue;
        }
        let ident = existing_sequence(names.value(row), sequences, settings)?;
        values.push(Some(value(&ident, session)?));
    }
    Ok(ColumnarValue::Array(Arc::new(Int64Array::from(values))))
}
