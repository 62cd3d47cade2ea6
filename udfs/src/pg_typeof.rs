//! `pg_typeof(any)`: the name of its argument's type, as PostgreSQL's
//! `regtype` output spells it (`integer`, `numeric`, `text[]`).

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use lakehouse_catalog::pg_types::postgres_type_name;

pub fn pg_typeof() -> ScalarUDF {
    ScalarUDF::new_from_impl(PgTypeof {
        signature: Signature::any(1, Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PgTypeof {
    signature: Signature,
}

/// The regtype name of `data_type`: a type without its modifiers
/// (`numeric`, not `numeric(38,0)`), as `pg_typeof` prints it.
fn regtype_name(data_type: &DataType) -> String {
    let name = postgres_type_name(data_type);
    match name.find('(') {
        Some(open) => {
            let close = name[open..].find(')').map_or(name.len(), |c| open + c + 1);
            format!("{}{}", &name[..open], &name[close..])
        }
        None => name,
    }
}

impl ScalarUDFImpl for PgTypeof {
    fn name(&self) -> &str {
        "pg_typeof"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = args
            .arg_fields
            .first()
            .map_or_else(|| "unknown".to_string(), |f| regtype_name(f.data_type()));
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(name))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_without_modifiers() {
        assert_eq!(regtype_name(&DataType::Decimal128(38, 0)), "numeric");
        assert_eq!(regtype_name(&DataType::Int32), "integer");
        assert_eq!(regtype_name(&DataType::Float64), "double precision");
    }
}
