//! `currval(regclass) -> bigint`: the value `nextval` last returned for the
//! sequence in this session (`55000` before it did), and `lastval() ->
//! bigint`: the value the session's last `nextval` returned, whatever the
//! sequence. An INSERT's serial default counts: `INSERT ...; SELECT
//! lastval();` gives the new row's id, as in PostgreSQL.

use std::sync::Arc;

use datafusion::arrow::array::Int64Array;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use lakehouse_catalog::SequenceStore;

use crate::UdfError;
use crate::nextval::per_named_sequence;
use crate::sequence_values::SessionSequenceValues;
use crate::session_settings::SessionSettings;

#[derive(Debug)]
pub struct Currval {
    signature: Signature,
    sequences: SequenceStore,
    settings: Arc<dyn SessionSettings>,
}

same_function_identity!(Currval, "currval");

pub fn currval(sequences: SequenceStore, settings: Arc<dyn SessionSettings>) -> ScalarUDF {
    ScalarUDF::new_from_impl(Currval {
        signature: Signature::exact(vec![DataType::Utf8], Volatility::Volatile),
        sequences,
        settings,
    })
}

fn not_yet_defined(message: String) -> DataFusionError {
    DataFusionError::External(Box::new(UdfError::Setting {
        sqlstate: "55000",
        message,
    }))
}

impl ScalarUDFImpl for Currval {
    fn name(&self) -> &str {
        "currval"
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
            Some(self.settings.as_ref()),
            |ident, session| {
                session.and_then(|s| s.current(ident)).ok_or_else(|| {
                    not_yet_defined(format!(
                        "currval of sequence \"{}\" is not yet defined in this session",
                        ident.table
                    ))
                })
            },
        )
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Lastval {
    signature: Signature,
}

pub fn lastval() -> ScalarUDF {
    ScalarUDF::new_from_impl(Lastval {
        signature: Signature::exact(vec![], Volatility::Volatile),
    })
}

impl ScalarUDFImpl for Lastval {
    fn name(&self) -> &str {
        "lastval"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let value = SessionSequenceValues::of(&args.config_options)
            .and_then(SessionSequenceValues::last)
            .ok_or_else(|| not_yet_defined("lastval is not yet defined in this session".into()))?;
        Ok(ColumnarValue::Array(Arc::new(Int64Array::from(vec![
            value;
            args.number_rows.max(1)
        ]))))
    }
}
