//! `current_setting(name [, missing_ok])` and `set_config(name, value, is_local)`:
//! the session's parameters from SQL, as in PostgreSQL (drivers such as asyncpg
//! and Metabase read `server_version_num`, `search_path`... this way).

use std::sync::Arc;

use crate::args::text_column;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

use crate::session_settings::{SessionSettings, SettingError};

fn to_error(e: SettingError) -> DataFusionError {
    DataFusionError::External(Box::new(crate::UdfError::Setting {
        sqlstate: e.sqlstate,
        message: e.message,
    }))
}

#[derive(Debug)]
pub struct SettingFunction {
    name: &'static str,
    settings: Arc<dyn SessionSettings>,
    signature: Signature,
}

impl PartialEq for SettingFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && Arc::ptr_eq(&self.settings, &other.settings)
    }
}

impl Eq for SettingFunction {}

impl std::hash::Hash for SettingFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

/// Both functions, bound to one session's settings.
pub fn setting_functions(settings: Arc<dyn SessionSettings>) -> Vec<ScalarUDF> {
    let text = || DataType::Utf8;
    let current = Signature::one_of(
        vec![
            TypeSignature::Exact(vec![text()]),
            TypeSignature::Exact(vec![text(), DataType::Boolean]),
        ],
        Volatility::Volatile,
    );
    let set = Signature::exact(
        vec![text(), text(), DataType::Boolean],
        Volatility::Volatile,
    );
    vec![
        ScalarUDF::new_from_impl(SettingFunction {
            name: "current_setting",
            settings: settings.clone(),
            signature: current,
        }),
        ScalarUDF::new_from_impl(SettingFunction {
            name: "set_config",
            settings,
            signature: set,
        }),
    ]
}

impl ScalarUDFImpl for SettingFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let names = text_column(&args.args[0], rows)?;
        let names = names.as_string::<i32>();
        let mut out = StringBuilder::new();
        if self.name == "current_setting" {
            let missing_ok = match args.args.get(1) {
                Some(v) => Some(v.to_array(rows)?),
                None => None,
            };
            for row in 0..rows {
                if names.is_null(row) {
                    out.append_null();
                    continue;
                }
                let tolerate = missing_ok
                    .as_ref()
                    .is_some_and(|m| !m.is_null(row) && m.as_boolean().value(row));
                match self.settings.get(names.value(row)) {
                    Ok(value) => out.append_value(value),
                    Err(_) if tolerate => out.append_null(),
                    Err(e) => return Err(to_error(e)),
                }
            }
        } else {
            // set_config(name, value, is_local): a local value ends with the
            // transaction (the statement itself outside a block).
            let values = text_column(&args.args[1], rows)?;
            let values = values.as_string::<i32>();
            let local = match args.args.get(2) {
                Some(flags) => Some(flags.to_array(rows)?),
                None => None,
            };
            for row in 0..rows {
                if names.is_null(row) {
                    out.append_null();
                    continue;
                }
                let value = if values.is_null(row) {
                    ""
                } else {
                    values.value(row)
                };
                let is_local = local
                    .as_ref()
                    .is_some_and(|l| !l.is_null(row) && l.as_boolean().value(row));
                if is_local {
                    self.settings.set_local(names.value(row), value)
                } else {
                    self.settings.set(names.value(row), value)
                }
                .map_err(to_error)?;
                out.append_value(value);
            }
        }
        let out: ArrayRef = Arc::new(out.finish());
        if args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)))
        {
            return Ok(ColumnarValue::Scalar(
                datafusion::common::ScalarValue::try_from_array(&out, 0)?,
            ));
        }
        Ok(ColumnarValue::Array(out))
    }
}
