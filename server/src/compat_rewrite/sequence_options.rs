//! Sequence options in any order. PostgreSQL accepts `CREATE SEQUENCE s
//! START 5 INCREMENT BY 5` and `GENERATED ... AS IDENTITY (START WITH 1
//! INCREMENT BY 1)` (pg_dump and ORMs write START first); the SQL parser
//! takes the options only in the order INCREMENT, MINVALUE, MAXVALUE, START,
//! CACHE, CYCLE. This puts them in that order before the statement is
//! parsed; anything it does not recognise is left as written (and the
//! parser reports it).

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

/// The parser's order of the option keywords.
const ORDER: [Keyword; 6] = [
    Keyword::INCREMENT,
    Keyword::MINVALUE,
    Keyword::MAXVALUE,
    Keyword::START,
    Keyword::CACHE,
    Keyword::CYCLE,
];

/// `sql` with the options of its sequence clauses in the parser's order, or
/// `None` when nothing needed moving.
pub fn sequence_options_in_order(sql: &str) -> Option<String> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize().ok()?;
    let mut out: Vec<Token> = Vec::with_capacity(tokens.len());
    let mut changed = false;
    let mut i = 0;
    while i < tokens.len() {
        out.push(tokens[i].clone());
        let starts_options = if is_keyword(&tokens[i], Keyword::IDENTITY) {
            // `AS IDENTITY (`: the options are in the parentheses.
            match next_significant(&tokens, i + 1) {
                Some(j) if tokens[j] == Token::LParen => {
                    out.extend(tokens[i + 1..=j].iter().cloned());
                    i = j;
                    true
                }
                _ => false,
            }
        } else if is_keyword(&tokens[i], Keyword::SEQUENCE) && created_sequence(&out) {
            // `CREATE SEQUENCE [IF NOT EXISTS] name [AS type]`: skip to the options.
            let mut j = i + 1;
            while let Some(k) = next_significant(&tokens, j) {
                if option_keyword(&tokens[k]).is_some() || is_keyword(&tokens[k], Keyword::NO) {
                    break;
                }
                if matches!(tokens[k], Token::SemiColon | Token::EOF)
                    || is_keyword(&tokens[k], Keyword::OWNED)
                {
                    break;
                }
                j = k + 1;
            }
            out.extend(tokens[i + 1..j].iter().cloned());
            i = j - 1;
            true
        } else {
            false
        };
        i += 1;
        if !starts_options {
            continue;
        }
        let (clauses, end) = option_clauses(&tokens, i);
        let mut sorted = clauses.clone();
        sorted.sort_by_key(|(rank, _)| *rank);
        if sorted
            .iter()
            .map(|(r, _)| r)
            .ne(clauses.iter().map(|(r, _)| r))
        {
            changed = true;
        }
        for (_, clause) in sorted {
            out.push(Token::Whitespace(Whitespace::Space));
            out.extend(clause);
        }
        i = end;
    }
    changed.then(|| out.iter().map(|t| t.to_string()).collect())
}

fn is_keyword(token: &Token, keyword: Keyword) -> bool {
    matches!(token, Token::Word(w) if w.keyword == keyword && w.quote_style.is_none())
}

/// Whether the tokens so far end in `CREATE [TEMP...] SEQUENCE` (the
/// `SEQUENCE` itself not yet counted).
fn created_sequence(before: &[Token]) -> bool {
    before
        .iter()
        .rev()
        .skip(1)
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .take(2)
        .any(|t| is_keyword(t, Keyword::CREATE))
}

fn next_significant(tokens: &[Token], from: usize) -> Option<usize> {
    (from..tokens.len()).find(|&k| !matches!(tokens[k], Token::Whitespace(_)))
}

/// The rank of an option's leading keyword in [`ORDER`].
fn option_keyword(token: &Token) -> Option<usize> {
    ORDER.iter().position(|k| is_keyword(token, *k))
}

/// The option clauses from `from` on, each with its rank, and the index
/// after the last one. A clause is `[NO] KEYWORD [BY | WITH] [-]number`.
fn option_clauses(tokens: &[Token], from: usize) -> (Vec<(usize, Vec<Token>)>, usize) {
    let mut clauses = Vec::new();
    let mut i = from;
    while let Some(start) = next_significant(tokens, i) {
        let mut clause = Vec::new();
        let mut k = start;
        let negated = is_keyword(&tokens[k], Keyword::NO);
        if negated {
            clause.push(tokens[k].clone());
            match next_significant(tokens, k + 1) {
                Some(n) => k = n,
                None => break,
            }
        }
        let Some(rank) = option_keyword(&tokens[k]) else {
            break;
        };
        clause.push(tokens[k].clone());
        k += 1;
        if !negated && rank != 5 {
            // INCREMENT [BY] n, START [WITH] n, MINVALUE n, MAXVALUE n, CACHE n.
            if let Some(n) = next_significant(tokens, k)
                && (is_keyword(&tokens[n], Keyword::BY) || is_keyword(&tokens[n], Keyword::WITH))
            {
                clause.push(Token::Whitespace(Whitespace::Space));
                clause.push(tokens[n].clone());
                k = n + 1;
            }
            let Some(mut n) = next_significant(tokens, k) else {
                break;
            };
            clause.push(Token::Whitespace(Whitespace::Space));
            if matches!(tokens[n], Token::Minus | Token::Plus) {
                clause.push(tokens[n].clone());
                match next_significant(tokens, n + 1) {
                    Some(m) => n = m,
                    None => break,
                }
            }
            if !matches!(tokens[n], Token::Number(..)) {
                break;
            }
            clause.push(tokens[n].clone());
            k = n + 1;
        } else if negated {
            // `NO CYCLE`, `NO MINVALUE`: the space between the words.
            clause.insert(1, Token::Whitespace(Whitespace::Space));
        }
        clauses.push((rank, clause));
        i = k;
    }
    (clauses, i)
}

#[cfg(test)]
mod tests {
    use super::sequence_options_in_order;

    #[test]
    fn options_take_the_parsers_order() {
        assert_eq!(
            sequence_options_in_order("CREATE SEQUENCE s START 5 INCREMENT BY -5 NO MAXVALUE")
                .as_deref(),
            Some("CREATE SEQUENCE s INCREMENT BY -5 NO MAXVALUE START 5")
        );
        assert_eq!(
            sequence_options_in_order(
                "CREATE TABLE t (id int GENERATED ALWAYS AS IDENTITY (START WITH 10 INCREMENT BY 2), x text)"
            )
            .as_deref(),
            Some(
                "CREATE TABLE t (id int GENERATED ALWAYS AS IDENTITY ( INCREMENT BY 2 START WITH 10), x text)"
            )
        );
        assert_eq!(
            sequence_options_in_order(
                "CREATE SEQUENCE IF NOT EXISTS public.s AS integer START WITH 1 INCREMENT BY 1 NO MINVALUE NO MAXVALUE CACHE 1;"
            )
            .as_deref(),
            Some(
                "CREATE SEQUENCE IF NOT EXISTS public.s AS integer INCREMENT BY 1 NO MINVALUE NO MAXVALUE START WITH 1 CACHE 1;"
            )
        );
        // Already in order, or not a sequence: unchanged.
        assert_eq!(
            sequence_options_in_order("CREATE SEQUENCE s INCREMENT 2 START 1"),
            None
        );
        assert_eq!(
            sequence_options_in_order("SELECT 'start 5 increment 1'"),
            None
        );
    }
}
