//! `FETCH` and `MOVE` as PostgreSQL writes them.
//!
//! sqlparser has no `MOVE`, wants a count after `FORWARD` / `BACKWARD`, a
//! direction before `FROM`, and an unsigned count; psycopg scrolls its
//! server-side cursors with `MOVE -2 FROM "c"` and `MOVE ABSOLUTE 0 FROM "c"`.
//! A statement string holding one FETCH or MOVE is parsed here into sqlparser's
//! `Statement::Fetch`; a MOVE carries [`MOVE_MARKER`] as its `INTO` target,
//! which PostgreSQL's SQL FETCH does not have.

use datafusion::sql::sqlparser::ast::{
    FetchDirection, FetchPosition, Ident, ObjectName, Statement, Value, ValueWithSpan,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

/// The `INTO` target that marks a parsed `MOVE`.
pub const MOVE_MARKER: &str = "pg_move";

/// Whether the statement is a MOVE parsed here.
pub fn is_move(into: Option<&ObjectName>) -> bool {
    into.is_some_and(|n| n.to_string() == MOVE_MARKER)
}

/// Parses `sql` when it is exactly one FETCH or MOVE statement; `None` leaves
/// it to the general parser (which reports syntax errors).
pub fn parse(sql: &str) -> Option<Statement> {
    // Every statement string passes here: tokenize only those that can be one.
    let mentions = |word: &[u8]| {
        sql.as_bytes()
            .windows(word.len())
            .any(|w| w.eq_ignore_ascii_case(word))
    };
    if !mentions(b"fetch") && !mentions(b"move") {
        return None;
    }
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize().ok()?;
    // Whitespace tokens include comments.
    let mut tokens: Vec<Token> = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    while tokens.last() == Some(&Token::SemiColon) {
        tokens.pop();
    }
    let (first, rest) = tokens.split_first()?;
    let is_move = match first {
        Token::Word(w) if w.keyword == Keyword::FETCH => false,
        Token::Word(w) if w.value.eq_ignore_ascii_case("move") && w.quote_style.is_none() => true,
        _ => return None,
    };
    if rest.contains(&Token::SemiColon) {
        return None; // several statements
    }
    let (direction, name) = direction_and_name(rest)?;
    Some(Statement::Fetch {
        name,
        direction,
        position: FetchPosition::From,
        into: is_move.then(|| ObjectName::from(vec![Ident::new(MOVE_MARKER)])),
    })
}

/// `[direction] [FROM | IN] name`.
fn direction_and_name(tokens: &[Token]) -> Option<(FetchDirection, Ident)> {
    let (name_token, before) = tokens.split_last()?;
    let name = match name_token {
        Token::Word(w) => match w.quote_style {
            Some(quote) => Ident::with_quote(quote, w.value.clone()),
            None => Ident::new(w.value.clone()),
        },
        _ => return None,
    };
    let before = match before.split_last() {
        Some((Token::Word(w), rest)) if matches!(w.keyword, Keyword::FROM | Keyword::IN) => rest,
        _ => before,
    };
    Some((direction(before)?, name))
}

fn direction(tokens: &[Token]) -> Option<FetchDirection> {
    let keyword = |t: &Token| match t {
        Token::Word(w) if w.quote_style.is_none() => Some(w.keyword),
        _ => None,
    };
    Some(match tokens {
        [] => FetchDirection::Next,
        [t] if keyword(t) == Some(Keyword::NEXT) => FetchDirection::Next,
        [t] if keyword(t) == Some(Keyword::PRIOR) => FetchDirection::Prior,
        [t] if keyword(t) == Some(Keyword::FIRST) => FetchDirection::First,
        [t] if keyword(t) == Some(Keyword::LAST) => FetchDirection::Last,
        [t] if keyword(t) == Some(Keyword::ALL) => FetchDirection::All,
        [t] if keyword(t) == Some(Keyword::FORWARD) => FetchDirection::Forward { limit: None },
        [t] if keyword(t) == Some(Keyword::BACKWARD) => FetchDirection::Backward { limit: None },
        [t, a] if keyword(t) == Some(Keyword::FORWARD) && keyword(a) == Some(Keyword::ALL) => {
            FetchDirection::ForwardAll
        }
        [t, a] if keyword(t) == Some(Keyword::BACKWARD) && keyword(a) == Some(Keyword::ALL) => {
            FetchDirection::BackwardAll
        }
        [t, count @ ..] if keyword(t) == Some(Keyword::ABSOLUTE) => FetchDirection::Absolute {
            limit: signed(count)?,
        },
        [t, count @ ..] if keyword(t) == Some(Keyword::RELATIVE) => FetchDirection::Relative {
            limit: signed(count)?,
        },
        [t, count @ ..] if keyword(t) == Some(Keyword::FORWARD) => FetchDirection::Forward {
            limit: Some(signed(count)?),
        },
        [t, count @ ..] if keyword(t) == Some(Keyword::BACKWARD) => FetchDirection::Backward {
            limit: Some(signed(count)?),
        },
        count => FetchDirection::Count {
            limit: signed(count)?,
        },
    })
}

/// `n`, `-n` or `+n`, as a number literal keeping its sign.
fn signed(tokens: &[Token]) -> Option<ValueWithSpan> {
    let (sign, digits) = match tokens {
        [Token::Number(n, _)] => ("", n),
        [Token::Minus, Token::Number(n, _)] => ("-", n),
        [Token::Plus, Token::Number(n, _)] => ("", n),
        _ => return None,
    };
    Some(Value::Number(format!("{sign}{digits}"), false).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(sql: &str) -> Option<String> {
        parse(sql).map(|s| match s {
            Statement::Fetch {
                name,
                direction,
                into,
                ..
            } => format!(
                "{}{direction} {name}",
                if is_move(into.as_ref()) { "MOVE " } else { "" }
            ),
            other => other.to_string(),
        })
    }

    #[test]
    fn postgres_forms() {
        for (sql, parsed) in [
            ("FETCH FROM c", "NEXT c"),
            ("fetch c;", "NEXT c"),
            ("FETCH FORWARD 2000 FROM \"c_1\"", "FORWARD 2000 \"c_1\""),
            ("MOVE -2 FROM c", "MOVE -2 c"),
            ("MOVE ABSOLUTE 0 IN c", "MOVE ABSOLUTE 0 c"),
            ("FETCH BACKWARD FROM c", "BACKWARD c"),
            ("FETCH BACKWARD ALL FROM c", "BACKWARD ALL c"),
            ("FETCH RELATIVE -1 FROM c", "RELATIVE -1 c"),
            ("FETCH PRIOR c", "PRIOR c"),
        ] {
            assert_eq!(shown(sql).as_deref(), Some(parsed), "{sql}");
        }
        // Not one FETCH/MOVE: left to the general parser.
        for sql in [
            "SELECT 1",
            "FETCH 1 FROM c; FETCH 1 FROM c",
            "MOVE BANANA FROM c",
        ] {
            assert_eq!(shown(sql), None, "{sql}");
        }
    }
}
