//! PostgreSQL's date/time template patterns (`YYYY-MM-DD HH24:MI:SS`), shared
//! by `to_char` (formatting) and `to_date` / `to_timestamp` (parsing).
//!
//! The patterns lakehouse knows: `YYYY YYY YY Y MM MONTH Month month MON Mon
//! mon DDD DD D DAY Day day DY Dy dy HH24 HH12 HH MI SS MS US AM PM am pm
//! A.M. P.M. TZ tz Q`, each with an optional `FM` prefix (no padding), text in
//! double quotes, `\` escapes; anything else is copied as it is, as
//! PostgreSQL does. Patterns are matched case-insensitively; the case of
//! month and day names and of AM/PM follows the pattern's.

use chrono::format::{Parsed, StrftimeItems};
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::DataFusionError;

use crate::UdfError;
use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

/// How a name is capitalised: `MONTH`, `Month` or `month`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Upper,
    Capitalised,
    Lower,
}

/// One template pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Year4,
    Year3,
    Year2,
    Year1,
    Month,
    MonthName(Case),
    MonthAbbrev(Case),
    DayOfYear,
    DayOfMonth,
    DayOfWeek,
    DayName(Case),
    DayAbbrev(Case),
    Hour24,
    Hour12,
    Minute,
    Second,
    Millisecond,
    Microsecond,
    Meridiem { upper: bool, dots: bool },
    TimeZone { upper: bool },
    Quarter,
}

/// A template: fields (with `FM`) and literal text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Field { field: Field, fill_mode: bool },
    Literal(String),
}

fn name_case(text: &str) -> Case {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(a), Some(b)) if a.is_uppercase() && b.is_uppercase() => Case::Upper,
        (Some(a), _) if a.is_uppercase() => Case::Capitalised,
        _ => Case::Lower,
    }
}

/// The patterns, longest first where one is a prefix of another.
const PATTERNS: [&str; 26] = [
    "YYYY", "YYY", "YY", "Y", "MONTH", "MON", "MM", "MI", "MS", "DDD", "DD", "DAY", "DY", "D",
    "HH24", "HH12", "HH", "SS", "US", "A.M.", "P.M.", "AM", "PM", "TZ", "Q", "FM",
];

/// Splits `template` into pieces.
pub fn parse_template(template: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut rest = template;
    let mut fill_mode = false;
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            // Text in double quotes is copied; \" inside is a quote.
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, next)) = chars.next() {
                            literal.push(next);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => literal.push(c),
                }
            }
            rest = &quoted[end.min(quoted.len())..];
            continue;
        }
        if let Some(escaped) = rest.strip_prefix('\\') {
            let mut chars = escaped.chars();
            if let Some(c) = chars.next() {
                literal.push(c);
            }
            rest = chars.as_str();
            continue;
        }
        let upper: String = rest.chars().take(5).collect::<String>().to_uppercase();
        let Some(pattern) = PATTERNS.iter().find(|p| upper.starts_with(*p)) else {
            let mut chars = rest.chars();
            if let Some(c) = chars.next() {
                literal.push(c);
            }
            rest = chars.as_str();
            continue;
        };
        let text = &rest[..pattern.len()];
        rest = &rest[pattern.len()..];
        if *pattern == "FM" {
            fill_mode = true;
            continue;
        }
        let field = match *pattern {
            "YYYY" => Field::Year4,
            "YYY" => Field::Year3,
            "YY" => Field::Year2,
            "Y" => Field::Year1,
            "MONTH" => Field::MonthName(name_case(text)),
            "MON" => Field::MonthAbbrev(name_case(text)),
            "MM" => Field::Month,
            "MI" => Field::Minute,
            "MS" => Field::Millisecond,
            "DDD" => Field::DayOfYear,
            "DD" => Field::DayOfMonth,
            "DAY" => Field::DayName(name_case(text)),
            "DY" => Field::DayAbbrev(name_case(text)),
            "D" => Field::DayOfWeek,
            "HH24" => Field::Hour24,
            "HH12" | "HH" => Field::Hour12,
            "SS" => Field::Second,
            "US" => Field::Microsecond,
            "A.M." | "P.M." => Field::Meridiem {
                upper: text.starts_with(|c: char| c.is_uppercase()),
                dots: true,
            },
            "AM" | "PM" => Field::Meridiem {
                upper: text.starts_with(|c: char| c.is_uppercase()),
                dots: false,
            },
            "TZ" => Field::TimeZone {
                upper: text.starts_with(|c: char| c.is_uppercase()),
            },
            _ => Field::Quarter,
        };
        if !literal.is_empty() {
            pieces.push(Piece::Literal(std::mem::take(&mut literal)));
        }
        pieces.push(Piece::Field { field, fill_mode });
        fill_mode = false;
    }
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    pieces
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

fn cased(name: &str, case: Case) -> String {
    match case {
        Case::Upper => name.to_uppercase(),
        Case::Capitalised => name.to_string(),
        Case::Lower => name.to_lowercase(),
    }
}

fn number(value: i64, width: usize, fill_mode: bool) -> String {
    if fill_mode {
        value.to_string()
    } else if value < 0 {
        format!("-{:0width$}", -value)
    } else {
        format!("{value:0width$}")
    }
}

/// Formats `at` by `pieces`; `zone` is the time zone's name for `TZ`
/// (`None` for a timestamp without time zone, where `TZ` prints nothing).
pub fn format(pieces: &[Piece], at: &NaiveDateTime, zone: Option<&str>) -> String {
    let mut out = String::new();
    for piece in pieces {
        let (field, fill) = match piece {
            Piece::Literal(text) => {
                out.push_str(text);
                continue;
            }
            Piece::Field { field, fill_mode } => (*field, *fill_mode),
        };
        let year = at.year() as i64;
        let text = match field {
            Field::Year4 => number(year, 4, fill),
            Field::Year3 => number(year % 1000, 3, fill),
            Field::Year2 => number(year % 100, 2, fill),
            Field::Year1 => number(year % 10, 1, fill),
            Field::Month => number(at.month() as i64, 2, fill),
            Field::MonthName(case) => {
                let name = cased(MONTHS[at.month0() as usize], case);
                if fill { name } else { format!("{name:<9}") }
            }
            Field::MonthAbbrev(case) => cased(&MONTHS[at.month0() as usize][..3], case),
            Field::DayOfYear => number(at.ordinal() as i64, 3, fill),
            Field::DayOfMonth => number(at.day() as i64, 2, fill),
            Field::DayOfWeek => number(at.weekday().num_days_from_sunday() as i64 + 1, 1, fill),
            Field::DayName(case) => {
                let name = cased(DAYS[at.weekday().num_days_from_sunday() as usize], case);
                if fill { name } else { format!("{name:<9}") }
            }
            Field::DayAbbrev(case) => cased(
                &DAYS[at.weekday().num_days_from_sunday() as usize][..3],
                case,
            ),
            Field::Hour24 => number(at.hour() as i64, 2, fill),
            Field::Hour12 => {
                let hour = at.hour() % 12;
                number(if hour == 0 { 12 } else { hour } as i64, 2, fill)
            }
            Field::Minute => number(at.minute() as i64, 2, fill),
            Field::Second => number(at.second() as i64, 2, fill),
            Field::Millisecond => number((at.nanosecond() / 1_000_000) as i64, 3, fill),
            Field::Microsecond => number((at.nanosecond() / 1_000) as i64, 6, fill),
            Field::Meridiem { upper, dots } => {
                let pm = at.hour() >= 12;
                let text = match (pm, dots) {
                    (false, false) => "AM",
                    (true, false) => "PM",
                    (false, true) => "A.M.",
                    (true, true) => "P.M.",
                };
                if upper {
                    text.to_string()
                } else {
                    text.to_lowercase()
                }
            }
            Field::TimeZone { upper } => match zone {
                Some(zone) if upper => zone.to_uppercase(),
                Some(zone) => zone.to_lowercase(),
                None => String::new(),
            },
            Field::Quarter => number(at.month0() as i64 / 3 + 1, 1, true),
        };
        out.push_str(&text);
    }
    out
}

/// Parses `text` by `pieces` (`to_date`, `to_timestamp`): fields missing
/// from the template default as in PostgreSQL (year 1, January, day 1,
/// midnight). `None` when the text does not match.
pub fn parse(pieces: &[Piece], text: &str) -> Option<NaiveDateTime> {
    let mut strftime = String::new();
    let mut twelve_hour = false;
    let mut meridiem = false;
    for piece in pieces {
        match piece {
            Piece::Literal(literal) => {
                for c in literal.chars() {
                    match c {
                        '%' => strftime.push_str("%%"),
                        // PostgreSQL skips any run of spaces in the input.
                        ' ' => strftime.push(' '),
                        c => strftime.push(c),
                    }
                }
            }
            Piece::Field { field, .. } => strftime.push_str(match field {
                Field::Year4 => "%Y",
                Field::Year2 => "%y",
                Field::Year3 | Field::Year1 => return None,
                Field::Month => "%m",
                Field::MonthName(_) => "%B",
                Field::MonthAbbrev(_) => "%b",
                Field::DayOfYear => "%j",
                Field::DayOfMonth => "%d",
                Field::DayOfWeek => "%u",
                Field::DayName(_) => "%A",
                Field::DayAbbrev(_) => "%a",
                Field::Hour24 => "%H",
                Field::Hour12 => {
                    twelve_hour = true;
                    "%I"
                }
                Field::Minute => "%M",
                Field::Second => "%S",
                Field::Millisecond => "%3f",
                Field::Microsecond => "%6f",
                Field::Meridiem { .. } => {
                    meridiem = true;
                    "%p"
                }
                Field::TimeZone { .. } => "%Z",
                Field::Quarter => return None,
            }),
        }
    }
    let mut parsed = Parsed::new();
    chrono::format::parse(&mut parsed, text.trim(), StrftimeItems::new(&strftime)).ok()?;
    if parsed.year.is_none() && parsed.year_mod_100.is_none() {
        parsed.set_year(1).ok()?;
    }
    if parsed.ordinal.is_none() {
        if parsed.month.is_none() {
            parsed.set_month(1).ok()?;
        }
        if parsed.day.is_none() {
            parsed.set_day(1).ok()?;
        }
    }
    // A day of the week only checks the date PostgreSQL would not check.
    parsed.weekday = None;
    if twelve_hour && !meridiem {
        parsed.set_ampm(false).ok()?;
    }
    if parsed.hour_div_12.is_none() && parsed.hour_mod_12.is_none() {
        parsed.set_hour(0).ok()?;
    }
    if parsed.minute.is_none() {
        parsed.set_minute(0).ok()?;
    }
    let date: NaiveDate = parsed.to_naive_date().ok()?;
    let time = parsed.to_naive_time().ok()?;
    Some(date.and_time(time))
}

/// `parse` over a column of texts and a column of templates (`to_date`,
/// `to_timestamp`): NULL where either is NULL; a text that does not match
/// its template is `22007` naming both.
pub fn parse_rows(
    texts: &ArrayRef,
    templates: &ArrayRef,
) -> datafusion::error::Result<Vec<Option<NaiveDateTime>>> {
    let texts = cast(texts, &DataType::Utf8)?;
    let templates = cast(templates, &DataType::Utf8)?;
    let (texts, templates) = (texts.as_string::<i32>(), templates.as_string::<i32>());
    let mut parsed: Option<(String, Vec<Piece>)> = None;
    (0..texts.len())
        .map(|row| {
            if texts.is_null(row) || templates.is_null(row) {
                return Ok(None);
            }
            let (text, template) = (texts.value(row), templates.value(row));
            if parsed.as_ref().is_none_or(|(t, _)| t != template) {
                parsed = Some((template.to_string(), parse_template(template)));
            }
            let pieces = parsed
                .as_ref()
                .map(|(_, p)| p.as_slice())
                .unwrap_or_default();
            parse(pieces, text).map(Some).ok_or_else(|| {
                DataFusionError::External(Box::new(UdfError::InvalidDatetime(format!(
                    "invalid value \"{text}\" for template \"{template}\""
                ))))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32, micros: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|date| date.and_hms_micro_opt(h, mi, s, micros))
            .expect("valid")
    }

    #[test]
    fn formats_as_postgresql() {
        let t = at(2025, 3, 4, 15, 7, 9, 123_456);
        let f = |template: &str| format(&parse_template(template), &t, Some("UTC"));
        assert_eq!(f("YYYY-MM"), "2025-03");
        assert_eq!(f("YYYY-MM-DD HH24:MI:SS.MS"), "2025-03-04 15:07:09.123");
        assert_eq!(f("HH12:MI AM"), "03:07 PM");
        assert_eq!(f("FMHH12 am"), "3 pm");
        assert_eq!(f("Month DD"), "March     04");
        assert_eq!(f("FMMonth FMDD, YYYY"), "March 4, 2025");
        assert_eq!(f("MON mon Mon DY Dy day"), "MAR mar Mar TUE Tue tuesday  ");
        assert_eq!(f("\"Q\"Q \"week day\" D, DDD"), "Q1 week day 3, 063");
        assert_eq!(f("US TZ"), "123456 UTC");
        assert_eq!(f("yyyy/mm/dd"), "2025/03/04");
    }

    #[test]
    fn parses_as_postgresql() {
        let p = |text: &str, template: &str| parse(&parse_template(template), text);
        assert_eq!(
            p("2025-03-04", "YYYY-MM-DD"),
            Some(at(2025, 3, 4, 0, 0, 0, 0))
        );
        assert_eq!(
            p("04/03/2025", "DD/MM/YYYY"),
            Some(at(2025, 3, 4, 0, 0, 0, 0))
        );
        assert_eq!(p("2025-03", "YYYY-MM"), Some(at(2025, 3, 1, 0, 0, 0, 0)));
        assert_eq!(
            p("05 Dec 2000", "DD Mon YYYY"),
            Some(at(2000, 12, 5, 0, 0, 0, 0))
        );
        assert_eq!(
            p("2025-03-04 03:07:09 PM", "YYYY-MM-DD HH12:MI:SS AM"),
            Some(at(2025, 3, 4, 15, 7, 9, 0))
        );
        assert_eq!(p("not a date", "YYYY-MM-DD"), None);
    }
}
