//! The statement depth limit (PostgreSQL's 54001 `stack depth limit
//! exceeded`).
//!
//! sqlparser bounds nesting it recurses into (parentheses, function calls),
//! but a chain of binary operators (`1+1+...+1`, `a OR b OR ...`, `UNION ALL`
//! after `UNION ALL`) it parses in a loop into a tree one level deeper per
//! operator. The planner, the optimizer and the evaluator then recurse over
//! that tree; a few thousand levels overflowed the thread's stack and took
//! the process down. This counts, from the tokens and without recursion, the
//! deepest such tree a statement can build, and refuses it before parsing.

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use crate::error::{ServerError, ServerResult};

/// Deepest operator nesting a statement may reach.
pub const MAX_DEPTH: usize = 1000;

/// Statements shorter than this cannot reach the limit (each operator takes
/// at least two characters with its operand), so they are not tokenized twice.
const SHORTEST_DEEP_STATEMENT: usize = 2 * MAX_DEPTH;

/// Refuses `sql` when its operator chains nest deeper than [`MAX_DEPTH`].
pub fn check(sql: &str) -> ServerResult<()> {
    if sql.len() < SHORTEST_DEEP_STATEMENT {
        return Ok(());
    }
    // A statement that does not tokenize fails in the parser with its own error.
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize() else {
        return Ok(());
    };
    let depth = deepest_chain(&tokens);
    if depth > MAX_DEPTH {
        return Err(ServerError::sql(
            "54001",
            format!(
                "stack depth limit exceeded: the statement chains {depth} operators into one \
                 expression (at most {MAX_DEPTH}); use an IN (...) list, an array or a join \
                 instead of a long chain of OR / UNION / +"
            ),
        ));
    }
    Ok(())
}

/// Operators of one nesting group, by kind: a chain of one operator is as
/// deep as it is long, and mixing kinds (`a = 1 OR a = 2 ...`) adds one level
/// per kind below the longest chain. The group's deepest child group hangs
/// below all of that (an over-estimate: it may sit at any level).
#[derive(Default)]
struct Group {
    counts: [usize; OPERATOR_KINDS],
    deepest_child: usize,
    /// The deepest earlier sibling expression (before a comma).
    deepest_sibling: usize,
}

impl Group {
    fn depth(&self) -> usize {
        let longest = self.counts.iter().copied().max().unwrap_or(0);
        let kinds = self.counts.iter().filter(|c| **c > 0).count();
        let chain = if longest == 0 { 0 } else { longest + kinds - 1 };
        (chain + self.deepest_child).max(self.deepest_sibling)
    }

    fn next_sibling(&mut self) {
        self.deepest_sibling = self.depth();
        self.counts = [0; OPERATOR_KINDS];
        self.deepest_child = 0;
    }
}

/// The deepest tree the tokens can build: groups (parentheses, brackets)
/// nest, each adding its depth below its parent's chain; a comma starts a
/// sibling expression.
fn deepest_chain(tokens: &[Token]) -> usize {
    let mut open: Vec<Group> = vec![Group::default()];
    for token in tokens {
        match token {
            Token::LParen | Token::LBracket => open.push(Group::default()),
            Token::RParen | Token::RBracket if open.len() > 1 => close(&mut open),
            Token::Comma | Token::SemiColon => {
                if let Some(current) = open.last_mut() {
                    current.next_sibling();
                }
            }
            t => {
                if let (Some(kind), Some(current)) = (operator_kind(t), open.last_mut()) {
                    current.counts[kind] += 1;
                }
            }
        }
    }
    while open.len() > 1 {
        close(&mut open);
    }
    open.last().map_or(0, Group::depth)
}

/// Ends the innermost group, hanging its depth below its parent.
fn close(open: &mut Vec<Group>) {
    if let Some(child) = open.pop()
        && let Some(parent) = open.last_mut()
    {
        parent.deepest_child = parent.deepest_child.max(child.depth());
    }
}

const OPERATOR_KINDS: usize = 22;

/// Tokens that join two operands into one more tree level, by kind.
fn operator_kind(token: &Token) -> Option<usize> {
    Some(match token {
        Token::Plus => 0,
        Token::Minus => 1,
        Token::Mul => 2,
        Token::Div => 3,
        Token::Mod => 4,
        Token::StringConcat => 5,
        Token::Eq | Token::DoubleEq => 6,
        Token::Neq => 7,
        Token::Lt => 8,
        Token::Gt => 9,
        Token::LtEq => 10,
        Token::GtEq => 11,
        Token::Ampersand => 12,
        Token::Pipe => 13,
        Token::Caret => 14,
        Token::Word(w) => match w.keyword {
            Keyword::AND => 15,
            Keyword::OR => 16,
            Keyword::UNION => 17,
            Keyword::INTERSECT => 18,
            Keyword::EXCEPT => 19,
            Keyword::JOIN => 20,
            Keyword::LIKE | Keyword::ILIKE => 21,
            _ => return None,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(sql: &str) -> usize {
        deepest_chain(
            &Tokenizer::new(&PostgreSqlDialect {}, sql)
                .tokenize()
                .unwrap(),
        )
    }

    #[test]
    fn chains_add_up_along_nesting_and_reset_at_commas() {
        assert_eq!(depth("SELECT 1"), 0);
        assert_eq!(depth("SELECT 1 + 2 + 3"), 2);
        assert_eq!(depth("SELECT (1 + (2 + 3)) * 4"), 3);
        assert_eq!(depth("SELECT 1 WHERE x = 1 OR x = 2 OR x = 3"), 4);
        assert_eq!(depth("SELECT f(1 + 2, 3 + 4 + 5)"), 2);
        assert_eq!(depth("SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3"), 2);
        assert_eq!(depth("SELECT 'a + b + c'"), 0);
    }

    #[test]
    fn long_chains_are_refused_and_long_lists_are_not() {
        let chain = format!("SELECT {}", vec!["1"; 5000].join(" + "));
        let err = check(&chain).unwrap_err();
        assert_eq!(err.sqlstate(), "54001");
        let ors = format!(
            "SELECT 1 WHERE {}",
            (0..2000)
                .map(|i| format!("x = {i}"))
                .collect::<Vec<_>>()
                .join(" OR ")
        );
        assert!(check(&ors).is_err());
        let few_ors = format!(
            "SELECT 1 WHERE {}",
            (0..900)
                .map(|i| format!("x = {i}"))
                .collect::<Vec<_>>()
                .join(" OR ")
        );
        assert!(check(&few_ors).is_ok());
        let list = format!(
            "SELECT 1 WHERE x IN ({})",
            (0..50_000)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        assert!(check(&list).is_ok());
        let fine = format!("SELECT {}", vec!["1"; 900].join(" + "));
        assert!(check(&fine).is_ok());
    }
}
