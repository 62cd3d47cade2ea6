//! `setval(regclass, bigint [, boolean]) -> bigint`: sets a sequence's
//! current value; the next `nextval` returns the value plus the increment,
//! or the value itself when the third argument is false (PostgreSQL's
//! semantics). Used by dumps and migrations after bulk loads.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Int64Array};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use lakehouse_catalog::SequenceStore;

use crate::args::text_column;
use crate::nextval::existing_sequence;
use crate::sequence_values::SessionSequenceValues;
use crate::session_settings::SessionSettings;

#[derive(Debug)]
pub struct Setval {
    signature: Signature,
    sequences: SequenceStore,
    settings: Arc<dyn SessionSettings>,
}

same_function_identity!(Setval, "setval");

pub fn setval(sequences: SequenceStore, settings: Arc<dyn SessionSettings>) -> ScalarUDF {
    ScalarUDF::new_from_impl(Setval {
        signature: Signature::one_of(
            vec![
                TypeSignature::Exact(vec![DataType::Utf8, DataType::Int64]),
                TypeSignature::Exact(vec![DataType::Utf8, DataType::Int64, DataType::Boolean]),
            ],
            Volatility::Volatile,
        ),
        sequences,
        settings,
    })
}

impl ScalarUDFImpl for Setval {
    fn name(&self) -> &str {
        "setval"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let names = text_column(&args.args[0], rows)?;
        let names = names.as_string::<i32>();
        let values = args.args[1].to_array(rows)?;
        let values = values.as_primitive::<Int64Type>();
        let called = match args.args.get(2) {
            Some(arg) => Some(arg.to_array(rows)?),
            None => None,
        };
        let session = SessionSequenceValues::of(&args.config_options);
        let mut out = Vec::with_capacity(rows);
        for row in 0..rows {
            if names.is_null(row) || values.is_null(row) {
                out.push(None);
                continue;
            }
            let is_called = match &called {
                Some(flags) if flags.is_null(row) => {
                    out.push(None);
                    continue;
                }
                Some(flags) => flags.as_boolean().value(row),
                None => true,
            };
            let name = names.value(row);
            let ident = existing_sequence(name, &self.sequences, Some(self.settings.as_ref()))?;
            let value = self
                .sequences
                .set_value(&ident, values.value(row), is_called)
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            // PostgreSQL: setval(..., true) sets currval; with false it does not.
            if let Some(session) = session.filter(|_| is_called) {
                session.record(&ident, value);
            }
            out.push(Some(value));
        }
        Ok(ColumnarValue::Array(Arc::new(Int64Array::from(out))))
    }
}
