//! `current_schema()` and `current_schemas(include_implicit)`: the first
//! existing schema of the session's `search_path` (NULL when none exists), and
//! all of them (with `pg_catalog` first when asked for the implicit ones), as
//! PostgreSQL computes them. They replace datafusion-pg-catalog's, which always
//! say `public`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ListArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{ScalarValue, exec_err};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use lakehouse_catalog::DeltaTableStore;

use crate::search_path::{current_schema, existing_path_schemas};
use crate::session_settings::SessionSettings;

#[derive(Debug)]
pub struct CurrentSchema {
    name: &'static str,
    signature: Signature,
    store: DeltaTableStore,
    settings: Arc<dyn SessionSettings>,
}

// Two functions share this type: identity is the name (the handles are the
// session's, the same for every instance).
impl PartialEq for CurrentSchema {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for CurrentSchema {}
impl std::hash::Hash for CurrentSchema {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

/// `current_schema()` and `current_schemas(boolean)`.
pub fn current_schema_functions(
    store: &DeltaTableStore,
    settings: &Arc<dyn SessionSettings>,
) -> Vec<ScalarUDF> {
    [
        ("current_schema", vec![]),
        ("current_schemas", vec![DataType::Boolean]),
    ]
    .into_iter()
    .map(|(name, args)| {
        ScalarUDF::new_from_impl(CurrentSchema {
            name,
            signature: Signature::exact(args, Volatility::Stable),
            store: store.clone(),
            settings: settings.clone(),
        })
    })
    .collect()
}

fn text_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

impl ScalarUDFImpl for CurrentSchema {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(if self.name == "current_schema" {
            DataType::Utf8
        } else {
            text_list()
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let settings = self.settings.as_ref();
        if self.name == "current_schema" {
            return Ok(ColumnarValue::Scalar(ScalarValue::Utf8(current_schema(
                settings,
                &self.store,
            ))));
        }
        let implicit = match args.args.first() {
            Some(ColumnarValue::Scalar(ScalarValue::Boolean(b))) => *b,
            _ => return exec_err!("current_schemas(boolean) takes a constant"),
        };
        let Some(implicit) = implicit else {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from(&text_list())?));
        };
        let mut schemas = existing_path_schemas(settings, &self.store);
        if implicit && !schemas.iter().any(|s| s == "pg_catalog") {
            schemas.insert(0, "pg_catalog".to_string());
        }
        let values = Arc::new(StringArray::from(schemas));
        let list = ListArray::new(
            Arc::new(Field::new("item", DataType::Utf8, true)),
            datafusion::arrow::buffer::OffsetBuffer::from_lengths([values.len()]),
            values,
            None,
        );
        Ok(ColumnarValue::Scalar(ScalarValue::List(Arc::new(list))))
    }
}
