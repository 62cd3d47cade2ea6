//! The options string of `ingest_csv(path, dataset, options)`.
//!
//! Format: `key=value` pairs separated by commas or spaces, for example
//! `'header=false, delimiter=tab, mode=replace'`. Keys: `header`
//! (true|false; detected when absent), `delimiter` (one character, or
//! `tab`, `comma`, `semicolon`, `pipe`, `space`), `quote` (one character),
//! `null` (text that means NULL; default the empty unquoted field),
//! `mode` (append|replace).

use crate::IngestError;

/// How rows land in an existing dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    #[default]
    Append,
    Replace,
}

/// Parsed CSV reader options.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvOptions {
    pub delimiter: u8,
    pub quote: u8,
    /// `None` means detect.
    pub header: Option<bool>,
    /// Unquoted text that reads as NULL, besides the empty field.
    pub null: Option<String>,
    pub mode: WriteMode,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: b',',
            quote: b'"',
            header: None,
            null: None,
            mode: WriteMode::Append,
        }
    }
}

impl CsvOptions {
    /// Parses the options string; an unknown key or bad value is an error naming it.
    pub fn parse(text: &str) -> Result<CsvOptions, IngestError> {
        let mut options = CsvOptions::default();
        for pair in split_pairs(text) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| IngestError::InvalidOption(format!("`{pair}` is not key=value")))?;
            let key = key.trim().to_ascii_lowercase();
            let value = unquote(value.trim());
            match key.as_str() {
                "header" => options.header = Some(parse_bool(&key, value)?),
                "delimiter" | "delim" | "sep" => options.delimiter = parse_char(&key, value)?,
                "quote" => options.quote = parse_char(&key, value)?,
                "null" => options.null = Some(value.to_string()),
                "mode" => {
                    options.mode = match value.to_ascii_lowercase().as_str() {
                        "append" => WriteMode::Append,
                        "replace" | "overwrite" => WriteMode::Replace,
                        other => {
                            return Err(IngestError::InvalidOption(format!(
                                "mode must be append or replace, not `{other}`"
                            )));
                        }
                    }
                }
                other => {
                    return Err(IngestError::InvalidOption(format!(
                        "unknown option `{other}` (known: header, delimiter, quote, null, mode)"
                    )));
                }
            }
        }
        if options.delimiter == options.quote {
            return Err(IngestError::InvalidOption(
                "delimiter and quote must differ".into(),
            ));
        }
        Ok(options)
    }
}

/// Splits on commas and whitespace, except inside single quotes, so that
/// `delimiter=','` stays one pair.
fn split_pairs(text: &str) -> Vec<String> {
    let mut pairs = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' | ' ' | '\t' | '\n' if !quoted => {
                if !current.is_empty() {
                    pairs.push(std::mem::take(&mut current));
                }
            }
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        pairs.push(current);
    }
    pairs
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .unwrap_or(value)
}

fn parse_bool(key: &str, value: &str) -> Result<bool, IngestError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "on" | "1" => Ok(true),
        "false" | "f" | "no" | "off" | "0" => Ok(false),
        _ => Err(IngestError::InvalidOption(format!(
            "{key} must be true or false, not `{value}`"
        ))),
    }
}

fn parse_char(key: &str, value: &str) -> Result<u8, IngestError> {
    let named = match value.to_ascii_lowercase().as_str() {
        "tab" | "\\t" => Some(b'\t'),
        "comma" => Some(b','),
        "semicolon" => Some(b';'),
        "pipe" => Some(b'|'),
        "space" => Some(b' '),
        _ => None,
    };
    if let Some(c) = named {
        return Ok(c);
    }
    match value.as_bytes() {
        [c] if c.is_ascii() && *c != b'\n' && *c != b'\r' => Ok(*c),
        _ => Err(IngestError::InvalidOption(format!(
            "{key} must be a single ASCII character, not `{value}`"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs() {
        let o = CsvOptions::parse("header=false, delimiter=';' mode=replace").unwrap();
        assert_eq!(o.header, Some(false));
        assert_eq!(o.delimiter, b';');
        assert_eq!(o.mode, WriteMode::Replace);
        assert_eq!(CsvOptions::parse("delimiter=','").unwrap().delimiter, b',');
        assert_eq!(CsvOptions::parse("delimiter=tab").unwrap().delimiter, b'\t');
    }

    #[test]
    fn rejects_unknown_and_bad() {
        assert!(CsvOptions::parse("colour=red").is_err());
        assert!(CsvOptions::parse("header=maybe").is_err());
        assert!(CsvOptions::parse("delimiter=ab").is_err());
        assert!(CsvOptions::parse("quote=,").is_err());
    }
}
