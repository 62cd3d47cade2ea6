//! The text form of one-dimensional numeric arrays: PostgreSQL's `{1.5,2,NULL}`
//! and pgvector's `[1.5,2]`, as COPY and `'...'::real[]` literals carry them.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, ListArray, StringArray};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field};

/// Parses `{...}` or `[...]` into numbers (`NULL` elements are `None`).
/// Nested arrays, quoting and other bounds are refused with a message.
pub fn parse_numbers(text: &str) -> Result<Vec<Option<f64>>, String> {
    let trimmed = text.trim();
    let inner = trimmed
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .or_else(|| trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')))
        .ok_or_else(|| format!("malformed array literal: \"{}\"", preview(text)))?;
    if inner.trim().is_empty() {
        return Ok(Vec::new());
    }
    inner
        .split(',')
        .enumerate()
        .map(|(i, item)| {
            let item = item.trim();
            if item.eq_ignore_ascii_case("null") {
                return Ok(None);
            }
            item.parse::<f64>().map(Some).map_err(|_| {
                format!(
                    "malformed array literal: element {} (\"{}\") is not a number in \"{}\"",
                    i + 1,
                    preview(item),
                    preview(text)
                )
            })
        })
        .collect()
}

fn preview(text: &str) -> String {
    const MAX: usize = 60;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

/// A list type whose items are numbers: what [`cast_text_to_list`] builds.
pub fn is_numeric_list(data_type: &DataType) -> bool {
    match data_type {
        DataType::List(item) => item.data_type().is_numeric(),
        _ => false,
    }
}

/// Casts a text column of array literals to `to` (a numeric `List`); the
/// error names the first row that does not parse.
pub fn cast_text_to_list(text: &StringArray, to: &DataType) -> Result<ArrayRef, (usize, String)> {
    let DataType::List(item) = to else {
        return Err((0, format!("{to} is not a list type")));
    };
    let mut values = Vec::new();
    let mut lengths = Vec::with_capacity(text.len());
    for row in 0..text.len() {
        if text.is_null(row) {
            lengths.push(0);
            continue;
        }
        let numbers = parse_numbers(text.value(row)).map_err(|e| (row, e))?;
        lengths.push(numbers.len());
        values.extend(numbers);
    }
    let values: ArrayRef = Arc::new(Float64Array::from(values));
    let values = cast(&values, item.data_type()).map_err(|e| (0, e.to_string()))?;
    let nulls = text
        .nulls()
        .cloned()
        .map(|n| NullBuffer::new(n.into_inner()));
    let list = ListArray::try_new(
        Arc::new(Field::new(item.name(), item.data_type().clone(), true)),
        OffsetBuffer::from_lengths(lengths),
        values,
        nulls,
    )
    .map_err(|e| (0, e.to_string()))?;
    Ok(Arc::new(list))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Float32Type;

    #[test]
    fn both_bracket_styles_and_nulls() {
        assert_eq!(
            parse_numbers("{1.5, 2,NULL}").unwrap(),
            vec![Some(1.5), Some(2.0), None]
        );
        assert_eq!(
            parse_numbers("[1e-3,-2]").unwrap(),
            vec![Some(0.001), Some(-2.0)]
        );
        assert_eq!(parse_numbers("{}").unwrap(), Vec::<Option<f64>>::new());
        assert!(parse_numbers("{1,x}").unwrap_err().contains("element 2"));
        assert!(parse_numbers("1,2").is_err());
        assert!(parse_numbers("{{1},{2}}").is_err());
    }

    #[test]
    fn text_column_to_real_list() {
        let text = StringArray::from(vec![Some("{1,2}"), None, Some("[3]")]);
        let to = DataType::List(Arc::new(Field::new("item", DataType::Float32, true)));
        let list = cast_text_to_list(&text, &to).unwrap();
        let list = list.as_list::<i32>();
        assert!(list.is_null(1));
        assert_eq!(
            list.value(0)
                .as_primitive::<Float32Type>()
                .values()
                .to_vec(),
            vec![1.0, 2.0]
        );
        assert_eq!(list.value(2).len(), 1);
        let err = cast_text_to_list(&StringArray::from(vec!["{1}", "{a}"]), &to).unwrap_err();
        assert_eq!(err.0, 1);
    }
}
