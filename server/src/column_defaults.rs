//! Column defaults: `DEFAULT expr`, `serial` types and identity columns
//! (`GENERATED { ALWAYS | BY DEFAULT } AS IDENTITY`) in `CREATE TABLE`, and
//! what an INSERT does with them.
//!
//! A default is kept as SQL text in the table's declarations (see
//! `lakehouse_catalog::TableConstraints`) and planned by every INSERT that
//! omits the column, so `now()` is each INSERT's time. A serial or identity
//! column gets a sequence `<table>_<column>_seq` owned by the column (dropped
//! with the table) and the default `nextval('<schema>.<sequence>')`, like
//! PostgreSQL. An identity column declared `GENERATED ALWAYS` refuses a
//! value an INSERT gives it (`428C9`); `DEFAULT` in a `VALUES` row stands
//! for the column's default.

use std::collections::BTreeMap;

use datafusion::arrow::compute::can_cast_types;
use datafusion::arrow::datatypes::DataType as ArrowType;
use datafusion::common::{DFSchema, ExprSchema};
use datafusion::logical_expr::ExprSchemable;
use datafusion::sql::sqlparser::ast::{
    CharacterLength, ColumnOption, ColumnOptionDef, CreateTable, DataType, Expr, GeneratedAs,
    Ident, Insert, ObjectName, SequenceOptions, SetExpr, TableObject,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use lakehouse_catalog::{
    ColumnDefault, DeclaredLength, DeltaTableStore, IdentityKind, OwnedBy, SequenceDefinition,
    SequenceStore, TableConstraints, TableIdent,
};

use crate::error::{ServerError, ServerResult};

/// A serial or identity column: it needs a sequence.
#[derive(Debug, Clone)]
struct DeclaredSequence {
    column: String,
    /// `smallint`, `integer` or `bigint`.
    data_type: &'static str,
    options: Vec<SequenceOptions>,
    identity: Option<IdentityKind>,
}

/// The defaults one CREATE TABLE declared, as written, and the lengths of
/// its `varchar(n)` / `char(n)` columns (what an INSERT must apply besides
/// the column types DataFusion keeps).
#[derive(Debug, Clone, Default)]
pub struct DeclaredDefaults {
    /// Column -> the DEFAULT expression's SQL text.
    defaults: BTreeMap<String, String>,
    sequences: Vec<DeclaredSequence>,
    lengths: BTreeMap<String, DeclaredLength>,
}

/// The declared length of a `varchar(n)` / `char(n)` type (`char` alone is
/// `char(1)`); `None` for other types and unbounded `varchar`.
fn declared_length(data_type: &DataType) -> Option<DeclaredLength> {
    let length = |l: &Option<CharacterLength>| match l {
        Some(CharacterLength::IntegerLength { length, .. }) => Some(*length),
        _ => None,
    };
    match data_type {
        DataType::Varchar(l) | DataType::CharacterVarying(l) | DataType::CharVarying(l) => {
            Some(DeclaredLength {
                length: length(l)?,
                blank_padded: false,
            })
        }
        DataType::Char(l) | DataType::Character(l) => Some(DeclaredLength {
            length: length(l).unwrap_or(1),
            blank_padded: true,
        }),
        _ => None,
    }
}

/// An identifier as PostgreSQL folds it: unquoted names are lower case.
fn folded(ident: &Ident) -> String {
    if ident.quote_style.is_none() {
        ident.value.to_lowercase()
    } else {
        ident.value.clone()
    }
}

/// `serial` and friends: the integer type they stand for.
fn serial_type(data_type: &DataType) -> Option<(DataType, &'static str)> {
    let DataType::Custom(name, modifiers) = data_type else {
        return None;
    };
    if !modifiers.is_empty() || name.0.len() != 1 {
        return None;
    }
    match name.to_string().to_lowercase().as_str() {
        "serial" | "serial4" => Some((DataType::Integer(None), "integer")),
        "bigserial" | "serial8" => Some((DataType::BigInt(None), "bigint")),
        "smallserial" | "serial2" => Some((DataType::SmallInt(None), "smallint")),
        _ => None,
    }
}

/// The sequence type of an identity column's declared type.
fn identity_type(data_type: &DataType) -> Option<&'static str> {
    match data_type {
        DataType::SmallInt(_) | DataType::Int2(_) => Some("smallint"),
        DataType::Int(_) | DataType::Integer(_) | DataType::Int4(_) => Some("integer"),
        DataType::BigInt(_) | DataType::Int8(_) => Some("bigint"),
        _ => None,
    }
}

impl DeclaredDefaults {
    /// Takes the DEFAULT and identity clauses out of `create` and turns
    /// serial types into integers; serial and identity columns become NOT
    /// NULL. Generated (computed) columns stay for the refusal of
    /// unimplemented clauses.
    pub fn take_from(create: &mut CreateTable) -> ServerResult<Self> {
        let mut declared = DeclaredDefaults::default();
        for column in &mut create.columns {
            let name = folded(&column.name);
            if let Some(length) = declared_length(&column.data_type) {
                declared.lengths.insert(name.clone(), length);
            }
            let mut sequence = None;
            if let Some((integer, type_name)) = serial_type(&column.data_type) {
                column.data_type = integer;
                sequence = Some(DeclaredSequence {
                    column: name.clone(),
                    data_type: type_name,
                    options: Vec::new(),
                    identity: None,
                });
            }
            let mut kept = Vec::with_capacity(column.options.len());
            for def in column.options.drain(..) {
                match def.option {
                    ColumnOption::Default(expr) => {
                        if declared.defaults.contains_key(&name) || sequence.is_some() {
                            return Err(multiple_defaults(&name, &create.name));
                        }
                        declared.defaults.insert(name.clone(), expr.to_string());
                    }
                    ColumnOption::Generated {
                        generated_as: generated_as @ (GeneratedAs::Always | GeneratedAs::ByDefault),
                        sequence_options,
                        generation_expr: None,
                        ..
                    } => {
                        if declared.defaults.contains_key(&name) || sequence.is_some() {
                            return Err(multiple_defaults(&name, &create.name));
                        }
                        let data_type = identity_type(&column.data_type).ok_or_else(|| {
                            ServerError::sql(
                                "22023",
                                format!(
                                    "identity column type must be smallint, integer, or bigint (column \"{name}\" is {})",
                                    column.data_type
                                ),
                            )
                        })?;
                        sequence = Some(DeclaredSequence {
                            column: name.clone(),
                            data_type,
                            options: sequence_options.unwrap_or_default(),
                            identity: Some(if matches!(generated_as, GeneratedAs::Always) {
                                IdentityKind::Always
                            } else {
                                IdentityKind::ByDefault
                            }),
                        });
                    }
                    option => kept.push(ColumnOptionDef {
                        name: def.name,
                        option,
                    }),
                }
            }
            if sequence.is_some() {
                if kept.iter().any(|o| matches!(o.option, ColumnOption::Null)) {
                    return Err(ServerError::sql(
                        "42601",
                        format!(
                            "conflicting NULL/NOT NULL declarations for column \"{name}\" of table \"{}\"",
                            create.name
                        ),
                    ));
                }
                if !kept
                    .iter()
                    .any(|o| matches!(o.option, ColumnOption::NotNull))
                {
                    kept.push(ColumnOptionDef {
                        name: None,
                        option: ColumnOption::NotNull,
                    });
                }
            }
            column.options = kept;
            declared.sequences.extend(sequence);
        }
        Ok(declared)
    }

    /// Checks each default against its column's type and creates the
    /// sequences of serial and identity columns; `into` gets the defaults.
    /// Returns the sequences created, for [`drop_sequences`] if the table
    /// cannot be created after all.
    pub fn resolve(
        self,
        table: &TableIdent,
        columns: &DFSchema,
        store: &DeltaTableStore,
        sequences: &SequenceStore,
        into: &mut TableConstraints,
    ) -> ServerResult<Vec<TableIdent>> {
        into.column_lengths = self.lengths;
        for (column, sql) in self.defaults {
            let target = column_type(columns, &column)?;
            let expr = store.plan_default(&sql)?;
            let given = expr.get_type(&DFSchema::empty())?;
            if !can_cast_types(&given, &target) {
                return Err(ServerError::sql(
                    "42804",
                    format!(
                        "column \"{column}\" is of type {} but default expression is of type {}",
                        lakehouse_catalog::pg_types::postgres_type_name(&target),
                        lakehouse_catalog::pg_types::postgres_type_name(&given)
                    ),
                ));
            }
            into.column_defaults.insert(
                column,
                ColumnDefault {
                    expr: sql,
                    identity: None,
                },
            );
        }
        let mut created = Vec::new();
        for declared in self.sequences {
            match create_sequence(table, &declared, sequences) {
                Ok(ident) => {
                    into.column_defaults.insert(
                        declared.column.clone(),
                        ColumnDefault {
                            expr: format!("nextval('{}')", qualified_literal(&ident)),
                            identity: declared.identity,
                        },
                    );
                    created.push(ident);
                }
                Err(e) => {
                    drop_sequences(sequences, &created);
                    return Err(e);
                }
            }
        }
        Ok(created)
    }
}

fn multiple_defaults(column: &str, table: &ObjectName) -> ServerError {
    ServerError::sql(
        "42601",
        format!("multiple default values specified for column \"{column}\" of table \"{table}\""),
    )
}

fn column_type(columns: &DFSchema, column: &str) -> ServerResult<ArrowType> {
    let field = columns
        .field_with_unqualified_name(column)
        .map_err(|_| ServerError::sql("42703", format!("column \"{column}\" does not exist")))?;
    Ok(columns.data_type(&field.name().as_str().into())?.clone())
}

/// `schema.name` as a string literal's content, each part quoted when
/// PostgreSQL would need it (a quote doubled for the literal).
fn qualified_literal(ident: &TableIdent) -> String {
    use lakehouse_catalog::pg_catalog::quote_ident;
    format!(
        "{}.{}",
        quote_ident(&ident.schema),
        quote_ident(&ident.table)
    )
    .replace('\'', "''")
}

/// Creates the sequence of a serial or identity column: `<table>_<column>_seq`
/// (cut to 63 bytes), or with a number appended if that name is taken, as
/// PostgreSQL chooses.
fn create_sequence(
    table: &TableIdent,
    declared: &DeclaredSequence,
    sequences: &SequenceStore,
) -> ServerResult<TableIdent> {
    let mut definition = sequence_definition(declared.data_type, &declared.options)?;
    definition.owned_by = Some(OwnedBy {
        schema: table.schema.clone(),
        table: table.table.clone(),
        column: declared.column.clone(),
    });
    let base = format!("{}_{}_seq", table.table, declared.column);
    for attempt in 0..1000 {
        let suffix = if attempt == 0 {
            String::new()
        } else {
            attempt.to_string()
        };
        let mut name = base.clone();
        while name.len() + suffix.len() > 63 {
            name.pop();
        }
        name.push_str(&suffix);
        let ident = TableIdent::new(&table.schema, name);
        if sequences.create(&ident, definition.clone(), true)? {
            return Ok(ident);
        }
    }
    Err(ServerError::sql(
        "42P07",
        format!(
            "could not choose a name for the sequence of column \"{}\"",
            declared.column
        ),
    ))
}

/// Drops sequences a failed CREATE TABLE created (best effort: the table
/// does not exist, so nothing draws from them).
pub fn drop_sequences(sequences: &SequenceStore, created: &[TableIdent]) {
    for ident in created {
        if let Err(e) = sequences.drop_sequence(ident) {
            tracing::warn!("could not drop sequence {ident}: {e}");
        }
    }
}

/// A sequence's definition from `CREATE SEQUENCE` / identity options.
pub fn sequence_definition(
    data_type: &str,
    options: &[SequenceOptions],
) -> ServerResult<SequenceDefinition> {
    let number = |expr: &Expr, what: &str| -> ServerResult<i64> {
        let text = expr.to_string();
        text.replace(' ', "").parse::<i64>().map_err(|_| {
            ServerError::sql("22023", format!("{what} must be an integer, not {text}"))
        })
    };
    let increment = options
        .iter()
        .find_map(|o| match o {
            SequenceOptions::IncrementBy(e, _) => Some(number(e, "INCREMENT")),
            _ => None,
        })
        .transpose()?
        .unwrap_or(1);
    let mut definition = SequenceDefinition::with_defaults(data_type, increment)
        .map_err(|message| ServerError::sql("22023", message))?;
    let mut start = None;
    for option in options {
        match option {
            SequenceOptions::IncrementBy(..) => {}
            SequenceOptions::MinValue(Some(e)) => definition.min_value = number(e, "MINVALUE")?,
            SequenceOptions::MaxValue(Some(e)) => definition.max_value = number(e, "MAXVALUE")?,
            SequenceOptions::MinValue(None) | SequenceOptions::MaxValue(None) => {}
            SequenceOptions::StartWith(e, _) => start = Some(number(e, "START")?),
            SequenceOptions::Cache(e) => definition.cache = number(e, "CACHE")?,
            // The parser's flag says NO: `CYCLE` is `Cycle(false)`.
            SequenceOptions::Cycle(no_cycle) => definition.cycle = !*no_cycle,
        }
    }
    definition.start = start.unwrap_or(if definition.increment > 0 {
        definition.min_value
    } else {
        definition.max_value
    });
    definition
        .validate()
        .map_err(|message| ServerError::sql("22023", message))?;
    Ok(definition)
}

/// Before an INSERT is planned: `DEFAULT` in its `VALUES` rows becomes the
/// column's default expression (NULL when it has none), and a value given to
/// a `GENERATED ALWAYS` identity column is refused (428C9).
pub fn prepare_insert(
    insert: &mut Insert,
    table_columns: &[String],
    constraints: &TableConstraints,
) -> ServerResult<()> {
    let targets: Vec<String> = if insert.columns.is_empty() {
        table_columns.to_vec()
    } else {
        insert
            .columns
            .iter()
            .map(|c| {
                c.0.last()
                    .and_then(|p| p.as_ident())
                    .map(folded)
                    .unwrap_or_default()
            })
            .collect()
    };
    let always: Vec<&String> = constraints
        .column_defaults
        .iter()
        .filter(|(_, d)| d.identity == Some(IdentityKind::Always))
        .map(|(c, _)| c)
        .collect();
    let has_source = insert.source.is_some();
    let values = insert.source.as_mut().and_then(|q| match q.body.as_mut() {
        SetExpr::Values(values) => Some(values),
        _ => None,
    });
    match values {
        Some(values) => {
            for row in &mut values.rows {
                for (position, value) in row.content.iter_mut().enumerate() {
                    let Some(column) = targets.get(position) else {
                        continue;
                    };
                    if is_default_keyword(value) {
                        *value = default_expr(constraints, column)?;
                    } else if always.contains(&column) {
                        return Err(generated_always(column));
                    }
                }
            }
        }
        // `DEFAULT VALUES` (no source) gives no column a value.
        None if !has_source => {}
        None => {
            if let Some(column) = targets.iter().find(|c| always.contains(c)) {
                return Err(generated_always(column));
            }
        }
    }
    Ok(())
}

/// Whether the INSERT targets a table with defaults worth checking before
/// it is planned: it uses the `DEFAULT` keyword, or the table has a
/// `GENERATED ALWAYS` column.
pub fn uses_default_keyword(insert: &Insert) -> bool {
    insert
        .source
        .as_ref()
        .is_some_and(|q| match q.body.as_ref() {
            SetExpr::Values(values) => values
                .rows
                .iter()
                .any(|row| row.content.iter().any(is_default_keyword)),
            _ => false,
        })
}

fn is_default_keyword(expr: &Expr) -> bool {
    matches!(expr, Expr::Identifier(ident)
        if ident.quote_style.is_none() && ident.value.eq_ignore_ascii_case("default"))
}

fn default_expr(constraints: &TableConstraints, column: &str) -> ServerResult<Expr> {
    let Some(default) = constraints.column_defaults.get(column) else {
        return Ok(Expr::Value(
            datafusion::sql::sqlparser::ast::Value::Null.into(),
        ));
    };
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&default.expr)
        .and_then(|mut parser| parser.parse_expr())
        .map_err(|e| {
            ServerError::sql(
                "XX000",
                format!("the default of column \"{column}\" does not parse: {e}"),
            )
        })
}

fn generated_always(column: &str) -> ServerError {
    ServerError::sql(
        "428C9",
        format!(
            "cannot insert a non-DEFAULT value into column \"{column}\": it is an identity column defined as GENERATED ALWAYS"
        ),
    )
}

/// The table an INSERT writes, as a name.
pub fn insert_target(insert: &Insert) -> Option<&ObjectName> {
    match &insert.table {
        TableObject::TableName(name) => Some(name),
        _ => None,
    }
}
