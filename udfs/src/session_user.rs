//! `session_user`, `current_user`, `user`, `current_role`: the authenticated role.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// Returns the role the session authenticated as, under one of its SQL names.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SessionUser {
    name: &'static str,
    user: String,
    signature: Signature,
}

impl SessionUser {
    pub fn new(name: &'static str, user: &str) -> Self {
        SessionUser {
            name,
            user: user.to_string(),
            signature: Signature::exact(vec![], Volatility::Stable),
        }
    }
}

impl ScalarUDFImpl for SessionUser {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
            self.user.clone(),
        ))))
    }
}
