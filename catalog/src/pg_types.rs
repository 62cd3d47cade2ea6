//! Postgres type names for Arrow types, as `lakehouse.columns` and clients show them.

use datafusion::arrow::datatypes::{DataType, TimeUnit};

/// SQL spellings of built-in types and their `pg_type.typname`.
pub const SQL_TYPE_NAMES: [(&str, &str); 16] = [
    ("integer", "int4"),
    ("int", "int4"),
    ("bigint", "int8"),
    ("smallint", "int2"),
    ("real", "float4"),
    ("double precision", "float8"),
    ("float", "float8"),
    ("boolean", "bool"),
    ("character varying", "varchar"),
    ("character", "bpchar"),
    ("char", "bpchar"),
    ("decimal", "numeric"),
    ("timestamp without time zone", "timestamp"),
    ("timestamp with time zone", "timestamptz"),
    ("time without time zone", "time"),
    ("time with time zone", "timetz"),
];

/// The `pg_type.typname` of a SQL type spelling (`integer` -> `int4`,
/// `varchar(10)` -> `varchar`); `None` when the spelling is not an alias.
pub fn pg_type_name(sql: &str) -> Option<&'static str> {
    let base = sql.split('(').next().unwrap_or(sql).trim();
    SQL_TYPE_NAMES
        .iter()
        .find(|(spelling, _)| spelling.eq_ignore_ascii_case(base))
        .map(|(_, typname)| *typname)
}

/// The Postgres name of the type an Arrow column is shown as.
pub fn postgres_type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::Boolean => "boolean".into(),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => "smallint".into(),
        DataType::Int32 | DataType::UInt16 => "integer".into(),
        DataType::Int64 | DataType::UInt32 => "bigint".into(),
        DataType::UInt64 => "numeric".into(),
        DataType::Float16 | DataType::Float32 => "real".into(),
        DataType::Float64 => "double precision".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("numeric({p},{s})"),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "text".into(),
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => "bytea".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Time32(_) | DataType::Time64(_) => "time without time zone".into(),
        DataType::Timestamp(_, None) => "timestamp without time zone".into(),
        DataType::Timestamp(_, Some(_)) => "timestamp with time zone".into(),
        DataType::Interval(_) | DataType::Duration(TimeUnit::Microsecond) => "interval".into(),
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            format!("{}[]", postgres_type_name(f.data_type()))
        }
        DataType::Dictionary(_, v) => postgres_type_name(v),
        DataType::Struct(_) | DataType::Map(_, _) => "json".into(),
        _ => "text".into(),
    }
}

/// How `information_schema.columns` describes a column's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InformationSchemaType {
    /// `bigint`, `numeric`, `ARRAY`...: the SQL name, without modifiers.
    pub data_type: String,
    /// The `pg_type.typname`: `int8`, `numeric`, `_float4`...
    pub udt_name: String,
    pub numeric_precision: Option<i32>,
    pub numeric_precision_radix: Option<i32>,
    pub numeric_scale: Option<i32>,
    pub datetime_precision: Option<i32>,
    pub character_octet_length: Option<i32>,
}

/// The `pg_type.typname` of the type an Arrow column is shown as: its SQL
/// name ([`postgres_type_name`]) in `pg_type`'s spelling, `_x` for arrays.
pub fn postgres_udt_name(data_type: &DataType) -> String {
    match data_type {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            format!("_{}", postgres_udt_name(f.data_type()))
        }
        _ => {
            let sql = postgres_type_name(data_type);
            // `numeric(12,2)` is `numeric`.
            let base = sql.split('(').next().unwrap_or_default();
            SQL_TYPE_NAMES
                .iter()
                .find(|(name, _)| *name == base)
                .map_or(base, |(_, typname)| typname)
                .to_string()
        }
    }
}

/// The `information_schema.columns` description of an Arrow column's type,
/// with PostgreSQL's precisions (binary for integers and floats).
pub fn information_schema_type(data_type: &DataType) -> InformationSchemaType {
    let udt_name = postgres_udt_name(data_type);
    let sql_name = postgres_type_name(data_type);
    let mut described = InformationSchemaType {
        data_type: match data_type {
            DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
                "ARRAY".into()
            }
            // `numeric(p,s)` is data_type `numeric` with its precision and scale.
            _ => sql_name.split('(').next().unwrap_or_default().to_string(),
        },
        udt_name,
        numeric_precision: None,
        numeric_precision_radix: None,
        numeric_scale: None,
        datetime_precision: None,
        character_octet_length: None,
    };
    let binary = |bits: i32, scale: Option<i32>| (Some(bits), Some(2), scale);
    let (precision, radix, scale) = match data_type {
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => binary(16, Some(0)),
        DataType::Int32 | DataType::UInt16 => binary(32, Some(0)),
        DataType::Int64 | DataType::UInt32 => binary(64, Some(0)),
        DataType::Float16 | DataType::Float32 => binary(24, None),
        DataType::Float64 => binary(53, None),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => {
            (Some(i32::from(*p)), Some(10), Some(i32::from(*s)))
        }
        _ => (None, None, None),
    };
    described.numeric_precision = precision;
    described.numeric_precision_radix = radix;
    described.numeric_scale = scale;
    described.datetime_precision = match data_type {
        DataType::Date32 | DataType::Date64 => Some(0),
        DataType::Time32(_)
        | DataType::Time64(_)
        | DataType::Timestamp(..)
        | DataType::Interval(_)
        | DataType::Duration(_) => Some(6),
        _ => None,
    };
    if described.udt_name == "text" {
        // PostgreSQL's limit for a text value, as it reports it.
        described.character_octet_length = Some(1_073_741_824);
    }
    described
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn information_schema_types_read_as_in_postgres() {
        let int8 = information_schema_type(&DataType::Int64);
        assert_eq!(
            (
                int8.data_type.as_str(),
                int8.udt_name.as_str(),
                int8.numeric_precision
            ),
            ("bigint", "int8", Some(64))
        );
        let money = information_schema_type(&DataType::Decimal128(12, 2));
        assert_eq!(
            (
                money.data_type.as_str(),
                money.numeric_precision,
                money.numeric_scale
            ),
            ("numeric", Some(12), Some(2))
        );
        let vector = DataType::List(Arc::new(datafusion::arrow::datatypes::Field::new(
            "item",
            DataType::Float32,
            true,
        )));
        let vector = information_schema_type(&vector);
        assert_eq!(
            (vector.data_type.as_str(), vector.udt_name.as_str()),
            ("ARRAY", "_float4")
        );
        let ts = information_schema_type(&DataType::Timestamp(TimeUnit::Microsecond, None));
        assert_eq!(
            (
                ts.data_type.as_str(),
                ts.udt_name.as_str(),
                ts.datetime_precision
            ),
            ("timestamp without time zone", "timestamp", Some(6))
        );
    }
}
