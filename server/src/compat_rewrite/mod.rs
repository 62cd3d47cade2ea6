//! Rewrites of client SQL applied before the pg-catalog compatibility parser,
//! for Postgres behaviour drivers rely on that DataFusion lacks:
//!
//! - `SELECT current_user, session_user` names its columns after the registers.
//!   The compatibility rewrite turns both into `session_user()` calls, which
//!   DataFusion would name alike (and refuse as duplicates), so an unaliased
//!   special register in a select list gets its own name as alias first.
//! - `uuid` is stored and compared as text (DataFusion has no uuid type):
//!   `::uuid` casts and `uuid` columns become `text`.
//! - `x::varchar(n)` and `x::char(n)` truncate to `n` characters.
//! - `t AT TIME ZONE z` is `timezone(z, t)`, typed as PostgreSQL types it.
//! - `'{...}'::real[]` (any float array type) and pgvector's `'[...]'::vector`
//!   become `vector_literal('...')`: one string to plan instead of one
//!   constant expression per element (milliseconds for a 768-d vector).
//! - `generate_subscripts(a, d)` (SQLAlchemy pairs it with `unnest(a)` to
//!   number key columns) becomes `unnest(generate_series(1, array_length(a, d)))`:
//!   DataFusion zips the unnests of one select list as PostgreSQL does.
//! - pgjdbc's `information_schema._pg_expandarray(a)` (a set-returning function
//!   of `(x, n)` records) becomes `unnest(_pg_expandarray(a))` over a list of
//!   structs, and `(expr).field` becomes `get_field(expr, 'field')`.
//! - A boolean scalar subquery as a WHERE condition (`... OR (SELECT c.relkind
//!   = 'c' FROM pg_class c WHERE c.oid = t.typrelid)`, pgjdbc's getTypeInfo)
//!   becomes `EXISTS (SELECT 1 ... WHERE <its filter> AND <its value>)`: the same
//!   rows pass (no row or a NULL/false value fails either way), and DataFusion
//!   plans EXISTS where it refuses an unaggregated correlated scalar subquery.
//! - In asyncpg's type introspection, `CASE WHEN t.typtype = 'd' | 'c' THEN
//!   (correlated subquery) END` (a domain's base type, a composite's
//!   attributes) is NULL: lakehouse has no domain or composite types of its
//!   own, and DataFusion cannot run a correlated subquery inside CASE.
//! - `'pg_catalog.array_in'::regproc` becomes `'array_in'`: pg_type's
//!   `typinput` / `typoutput` hold function names here, not oids.
//! - Unaliased select-list expressions get PostgreSQL's column names
//!   (`count`, `?column?`), in queries that are not psql's own catalog queries.
//! - `'pg_x'::regclass` looks in pg_catalog; a computed `::regclass` calls
//!   `to_regclass()`; a selected `column::regclass` in a constraint listing
//!   prints the name (`regclass_name()`); `pg_partition_ancestors(r)` is `r`.
//! - `x::regtype[]` of pg_proc's text type lists is `regtype_names(x)`, and
//!   `x::regtype::text` is `format_type(x, NULL)`.
//! - Scalar functions in FROM (`string_to_array(...) s`) become one-row derived
//!   tables; `generate_series` over computed bounds unnests the array function.
//! - An ORDER BY key holding a subquery is computed in a derived table.
//! - `x = ANY($1)` with an untyped parameter reads it as `text[]`.
//! - `ARRAY(SELECT ...)` as a select-list item is an `array_agg` subquery;
//!   over `unnest(x.reloptions)` (psql's TOAST options) a NULL `text[]`.
//! - pgcli's lateral key-column subquery is `column_names(rel, keys)`.
//! - `$n::oid` / `$n::oid[]` placeholders are recorded: DataFusion plans them as
//!   integers, but drivers expect the oid types in the parameter description
//!   (asyncpg decodes `oid[]` natively, not `int4[]`).
//!
//! SQL that does not parse is passed on untouched, for the real parser to report.
//! The rewrites live in `column_names`, `typed_values`, `catalog_queries` and
//! `query_shapes`; [`rewrite`] decides which run on a statement.

use std::borrow::Cow;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    AccessExpr, ArrayElemTypeDef, BinaryOperator, CastKind, CharacterLength, DataType, Expr,
    Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, GroupByExpr,
    Ident, ObjectName, OrderBy, OrderByKind, Query, SelectItem, SetExpr, Statement, TableFactor,
    Value, VisitMut, VisitorMut, visit_expressions, visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use pgwire::api::Type;

mod catalog_queries;
mod column_names;
mod query_shapes;
mod sequence_options;
mod typed_values;

use catalog_queries::*;
use column_names::*;
use query_shapes::*;
use typed_values::*;

/// Parenthesis-less special registers that Postgres names after themselves.
const SPECIAL_REGISTERS: [&str; 6] = [
    "current_user",
    "session_user",
    "user",
    "current_role",
    "current_catalog",
    "current_schema",
];

/// Placeholders cast to oid types: 0-based parameter index and the type.
pub type OidParams = Vec<(usize, Type)>;

pub struct Rewritten<'a> {
    pub sql: Cow<'a, str>,
    pub oid_params: OidParams,
}

pub fn rewrite(sql: &str) -> Rewritten<'_> {
    let lower = sql.to_ascii_lowercase();
    if (lower.contains("sequence") || lower.contains("identity"))
        && let Some(reordered) = sequence_options::sequence_options_in_order(sql)
    {
        return Rewritten {
            sql: Cow::Owned(reordered),
            oid_params: Vec::new(),
        };
    }
    let unchanged = |oid_params| Rewritten {
        sql: Cow::Borrowed(sql),
        oid_params,
    };
    let has_registers = SPECIAL_REGISTERS.iter().any(|r| lower.contains(r));
    let has_vectors = lower.contains("[]") || lower.contains("::vector");
    // Every query: its columns get PostgreSQL's names.
    let is_query = ["select", "with", "values", "("]
        .iter()
        .any(|k| lower.trim_start().starts_with(k));
    if !is_query
        && !has_registers
        && !has_vectors
        && !lower.contains("oid")
        && !lower.contains("uuid")
        && !lower.contains("generate_subscripts")
        && !lower.contains("_pg_expandarray")
        // Subqueries are only rewritten in catalog queries; a user's
        // subquery is not worth a second parse.
        && !(lower.contains("(select") && lower.contains("pg_"))
        && !lower.contains("regproc")
        && !lower.contains("typtype")
        && !lower.contains("regclass")
        && !lower.contains("escape")
        && !lower.contains("char")
        && !lower.contains("time zone")
    {
        return unchanged(Vec::new());
    }
    let Ok(mut statements) = Parser::parse_sql(&PostgreSqlDialect {}, sql) else {
        return unchanged(Vec::new());
    };
    let oid_params = oid_placeholders(&statements);
    let mut changed = false;
    // psql's own catalog queries are matched by their text in the
    // pg-catalog parser (its blacklist of queries it answers itself), so
    // the rewrites that any query may need leave them as they are.
    let general = !lower.contains("pg_catalog.");
    for statement in &mut statements {
        // First: the column of `t AT TIME ZONE z` is named after the call.
        changed |= at_time_zone_calls(statement);
        if general {
            changed |= postgres_column_names(statement);
            changed |= scalar_functions_in_from(statement);
        }
        changed |= name_special_registers(statement);
        changed |= uuid_as_text(statement);
        changed |= character_length_casts(statement);
        changed |= like_escapes(statement);
        changed |= vector_literals(statement);
        changed |= attname_lists(statement);
        changed |= generate_subscripts(statement);
        changed |= expand_arrays(statement);
        changed |= boolean_subqueries_as_exists(statement);
        changed |= regproc_literals(statement);
        changed |= domain_and_composite_lookups(statement);
        // Before the regclass casts become oids: a selected regclass prints its
        // name. Not in psql's catalog queries other than constraint listings:
        // rewriting a statement changes its text, and the pg-catalog parser
        // answers psql's other catalog queries only as psql writes them.
        if general || lower.contains("pg_constraint") {
            changed |= selected_regclass_names(statement);
        }
        changed |= catalog_regclass_literals(statement);
        changed |= computed_regclass_casts(statement);
        changed |= regtype_lists(statement);
        changed |= selected_in_subqueries(statement);
        changed |= subqueries_in_order_by(statement);
        changed |= untyped_any_parameters(statement);
        changed |= array_subqueries(statement);
    }
    if !changed {
        return unchanged(oid_params);
    }
    let sql = statements
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(";\n");
    Rewritten {
        sql: Cow::Owned(sql),
        oid_params,
    }
}

/// A call of `name(args)` as an expression.
fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
                .collect(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

/// Whether `expr` holds a subquery (`ARRAY(SELECT ...)` included).
fn has_subquery(expr: &Expr) -> bool {
    visit_expressions(expr, |e| match e {
        Expr::Subquery(_) | Expr::InSubquery { .. } | Expr::Exists { .. } => ControlFlow::Break(()),
        Expr::Function(f) if matches!(f.args, FunctionArguments::Subquery(_)) => {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

/// Offers every cast in the statement (`CAST(x AS t)`, `x::t`) to `replace`,
/// with its operand and target type; what it returns replaces the whole cast.
fn replace_casts(
    statement: &mut Statement,
    mut replace: impl FnMut(&Expr, &DataType) -> Option<Expr>,
) -> bool {
    let mut changed = false;
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Cast {
            expr: operand,
            data_type,
            ..
        } = expr
            && let Some(replacement) = replace(operand, data_type)
        {
            *expr = replacement;
            changed = true;
        }
        ControlFlow::<()>::Continue(())
    });
    changed
}

/// A column reference, plain or qualified.
fn is_column(expr: &Expr) -> bool {
    matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
}

/// A type's name without `pg_catalog.`, lower case (`REGCLASS` -> `regclass`).
fn type_name(data_type: &DataType) -> String {
    let name = data_type.to_string().to_ascii_lowercase();
    name.strip_prefix("pg_catalog.")
        .unwrap_or(&name)
        .to_string()
}

/// `CAST(expr AS TEXT[])`.
fn as_text_array(expr: Expr) -> Expr {
    Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(expr),
        data_type: DataType::Array(ArrayElemTypeDef::SquareBracket(
            Box::new(DataType::Text),
            None,
        )),
        array: false,
        format: None,
    }
}

/// Whether every argument is built of literals alone (`TIMESTAMP
/// '2000-01-01' + INTERVAL '1 day'`, `-5`, `$1`): no column, no function, no
/// subquery. DataFusion folds such arguments into literals before a table
/// function sees them, so `FROM generate_series(...)` over them streams its
/// rows instead of building them all as one array.
fn all_constant(args: &[FunctionArg]) -> bool {
    args.iter().all(|a| match a {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) => visit_expressions(expr, |e| {
            if matches!(
                e,
                Expr::Value(_)
                    | Expr::TypedString { .. }
                    | Expr::Interval(_)
                    | Expr::UnaryOp { .. }
                    | Expr::BinaryOp { .. }
                    | Expr::Cast { .. }
                    | Expr::Nested(_)
            ) {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            }
        })
        .is_continue(),
        _ => false,
    })
}

fn is_null(expr: &Expr) -> bool {
    matches!(expr, Expr::Value(v) if v.value == Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_casts_become_one_string() {
        let rewritten = rewrite(
            "SELECT '{3}'::real[], '{a}'::text[], ARRAY[1.0]::real[] FROM vector_search('i', '[1, 2]'::vector(2), 5)",
        );
        assert_eq!(
            rewritten.sql,
            "SELECT vector_literal('{3}') AS \"float4\", '{a}'::TEXT[] AS \"text\", ARRAY[1.0]::REAL[] AS \"array\" FROM vector_search('i', vector_literal('[1, 2]'), 5)"
        );
    }

    #[test]
    fn registers_get_their_names_and_uuid_becomes_text() {
        let r = rewrite("SELECT current_user, session_user, $1::uuid, $2::oid[]");
        assert_eq!(
            r.sql,
            "SELECT current_user AS \"current_user\", session_user AS \"session_user\", $1::TEXT AS \"uuid\", $2::oid[] AS \"oid\""
        );
        assert_eq!(r.oid_params, vec![(1, Type::OID_ARRAY)]);
        assert_eq!(
            rewrite(
                "SELECT (information_schema._pg_expandarray(i.indkey)).n, (r.keys).x FROM i, r"
            )
            .sql,
            "SELECT get_field(unnest(_pg_expandarray(i.indkey)), 'n') AS \"n\", get_field(r.keys, 'x') AS \"x\" FROM i, r"
        );
        assert_eq!(
            rewrite("SELECT t.typname FROM pg_type t WHERE t.typrelid = 0 OR (SELECT c.relkind = 'c' FROM pg_class c WHERE c.oid = t.typrelid)").sql,
            "SELECT t.typname FROM pg_type t WHERE t.typrelid = 0 OR EXISTS (SELECT 1 FROM pg_class c WHERE (c.oid = t.typrelid) AND (c.relkind = 'c'))"
        );
        assert_eq!(
            rewrite("SELECT (CASE WHEN t.typtype = 'c' THEN (SELECT 1 FROM c WHERE c.r = t.oid) END) AS a, t.typtype FROM pg_type t").sql,
            "SELECT (NULL) AS a, t.typtype FROM pg_type t"
        );
        assert_eq!(
            rewrite("SELECT (CASE WHEN t.typtype = 'd' THEN (SELECT 1) ELSE NULL END) AS b FROM pg_type t").sql,
            "SELECT (NULL) AS b FROM pg_type t"
        );
        assert_eq!(
            rewrite(
                "SELECT 1, 2, count(*), a, t.b, x::int, '1'::integer, CASE WHEN a THEN 1 END FROM t"
            )
            .sql,
            "SELECT 1 AS \"?column?\", 2, count(*) AS \"count\", a, t.b, x::INT AS \"x\", '1'::INTEGER AS \"int4\", CASE WHEN a THEN 1 END AS \"case\" FROM t"
        );
        assert_eq!(
            rewrite("SELECT s[i] AS p FROM generate_series(1, array_upper(string_to_array(x, ','), 1)) AS i, string_to_array(x, ',') s").sql,
            "SELECT s[i] AS p FROM (SELECT unnest(generate_series(1, array_upper(string_to_array(x, ','), 1))) AS i) AS i, (SELECT string_to_array(x, ',') AS s) AS s"
        );
        assert_eq!(
            rewrite("SELECT col_description(format('%I.%I', s, t)::regclass, 1), 'pg_class'::regclass AS c").sql,
            "SELECT col_description(to_regclass(format('%I.%I', s, t)), 1) AS \"col_description\", regclass_name('pg_catalog.pg_class'::REGCLASS) AS c"
        );
        assert_eq!(
            rewrite("SELECT a AS x FROM t ORDER BY CASE WHEN a IN (SELECT b FROM u) THEN 0 ELSE 1 END, 1 LIMIT 5").sql,
            "SELECT a AS x FROM (SELECT *, CASE WHEN in_array((SELECT array_agg(__v) FROM (SELECT b FROM u) AS __in (__v)), a) THEN 0 ELSE 1 END AS __order_1 FROM t) AS __ordered ORDER BY __order_1, 1 LIMIT 5"
        );
        let aggregated = "SELECT t.a FROM t WHERE (SELECT count(*) = 0 FROM u WHERE u.id = t.id)";
        assert_eq!(rewrite(aggregated).sql, aggregated);
        assert_eq!(
            rewrite("SELECT typinput = 'pg_catalog.array_in'::regproc FROM pg_type").sql,
            "SELECT typinput = 'array_in' FROM pg_type"
        );
        assert_eq!(
            rewrite("SELECT unnest(conkey), generate_subscripts(conkey, $1) FROM c").sql,
            "SELECT unnest(conkey) AS \"unnest\", unnest(generate_series(1, CAST(array_length(conkey, $1) AS BIGINT))) AS \"generate_subscripts\" FROM c"
        );
        assert!(matches!(rewrite("SELECT a FROM t").sql, Cow::Borrowed(_)));
        assert!(matches!(
            rewrite("INSERT INTO t VALUES (1)").sql,
            Cow::Borrowed(_)
        ));
    }
}
