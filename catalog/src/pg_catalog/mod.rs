//! `pg_catalog` over lakehouse's own metadata.
//!
//! datafusion-pg-catalog serves relations, attributes and types, giving every
//! relation an oid as it lists them; its `pg_constraint` and `pg_description`
//! are fixed copies of an empty PostgreSQL database. [`PgCatalogOverlay`] wraps
//! that schema and serves those two from the Delta tables instead: the
//! informational constraints (with `conkey` / `confkey` as `int2[]`, which
//! SQLAlchemy unnests) and the comments of `COMMENT ON`, keyed by the same
//! oids `pg_class` shows. Each scan of `pg_class`, `pg_constraint` or
//! `pg_description` also refreshes [`PgAnnotations`], the snapshot that
//! `obj_description`, `col_description` and `pg_get_constraintdef` read:
//! a client only knows an oid after reading one of those tables.
//! `pg_index` and `pg_class` also show the index PostgreSQL would create for
//! each primary key and unique constraint (see [`pg_index`]), with `indkey`
//! as `int2[]` so the `unnest(indkey)` of index reflection plans.

mod pg_attribute;
mod pg_constraint;
pub use pg_constraint::quote_ident;
mod pg_description;
mod pg_index;
mod pg_proc;
mod pg_roles;
mod relation_oids;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::error::Result;

use crate::roles::RoleStore;
use crate::system::{ComputedTable, SystemTable};
use crate::{DeltaTableStore, TableDefinition, ViewStore};
use pg_constraint::ConstraintDefinition;
use relation_oids::RelationOids;

pub use pg_proc::{FIRST_OWN_FUNCTION_OID, OwnFunction, OwnFunctionResult};
pub use pg_roles::{default_owner, role_oid};

/// Field metadata naming the Postgres type a column is sent as, where the
/// Arrow type alone would say otherwise (`int2vector` for an `int2[]` list).
pub const PG_TYPE_METADATA: &str = "pg_type";

/// One parameter as `pg_settings` lists it: name, value, read-only.
pub type Parameter = (String, String, bool);

/// A session's parameters. The server puts one in each session's
/// configuration; `pg_settings` reads it.
pub struct SessionParameters(pub Arc<dyn Fn() -> Vec<Parameter> + Send + Sync>);

/// What `obj_description`, `col_description` and `pg_get_constraintdef`
/// answer from: the latest snapshot taken by a catalog scan.
#[derive(Debug, Clone, Default)]
pub struct PgAnnotations(Arc<RwLock<AnnotationSnapshot>>);

#[derive(Debug, Default)]
struct AnnotationSnapshot {
    /// (objoid, objsubid) -> comment, for relations (classoid pg_class).
    descriptions: HashMap<(i32, i32), String>,
    /// Constraint oid -> `pg_get_constraintdef` text.
    constraint_defs: HashMap<i32, ConstraintDefinition>,
    /// Index oid -> `pg_get_indexdef(oid, n)` for n = 0 (the whole), 1, 2...
    index_defs: HashMap<i32, Vec<String>>,
    /// Table oid -> bytes of its data files.
    table_sizes: HashMap<i32, i64>,
    /// (schema, relation) -> oid, for `to_regclass`.
    relations: HashMap<(String, String), i32>,
    /// Table oid -> its column names, attnum 1 first.
    columns: HashMap<i32, Vec<String>>,
    /// Function oid -> description, for lakehouse's own functions.
    functions: HashMap<i32, String>,
}

impl PgAnnotations {
    /// The comment of a relation (`subid` 0) or of its column `subid`.
    pub fn description(&self, oid: i32, subid: i32) -> Option<String> {
        self.0.read().ok()?.descriptions.get(&(oid, subid)).cloned()
    }

    /// The definition of a constraint, as `pg_get_constraintdef` prints it for
    /// a session that looks up unqualified names in `searched` (in order): a
    /// referenced table is qualified unless the first schema holding its name
    /// is its own, as PostgreSQL does.
    pub fn constraint_def(&self, oid: i32, searched: &[String]) -> Option<String> {
        let snapshot = self.0.read().ok()?;
        let definition = snapshot.constraint_defs.get(&oid)?;
        let visible = |(schema, table): &(String, String)| {
            searched.iter().find(|s| {
                snapshot
                    .relations
                    .contains_key(&((*s).clone(), table.clone()))
            }) == Some(schema)
        };
        Some(match &definition.referenced {
            Some(referenced) if !visible(referenced) => definition.qualified.clone(),
            _ => definition.unqualified.clone(),
        })
    }

    /// `pg_table_size(oid)`: the bytes of a table's data files.
    pub fn table_size(&self, oid: i32) -> Option<i64> {
        self.0.read().ok()?.table_sizes.get(&oid).copied()
    }

    /// `pg_get_indexdef(oid, column)`: 0 is the CREATE INDEX statement.
    pub fn index_def(&self, oid: i32, column: usize) -> Option<String> {
        self.0
            .read()
            .ok()?
            .index_defs
            .get(&oid)?
            .get(column)
            .cloned()
    }

    /// The oid `pg_class` gives `schema.name`.
    pub fn relation_oid(&self, schema: &str, name: &str) -> Option<i32> {
        self.0
            .read()
            .ok()?
            .relations
            .get(&(schema.to_string(), name.to_string()))
            .copied()
    }

    /// The relation an oid names: (schema, name).
    pub fn relation_name(&self, oid: i32) -> Option<(String, String)> {
        let snapshot = self.0.read().ok()?;
        snapshot
            .relations
            .iter()
            .find(|(_, o)| **o == oid)
            .map(|(name, _)| name.clone())
    }

    /// The name of column `attnum` (from 1) of a table.
    pub fn column_name(&self, oid: i32, attnum: i32) -> Option<String> {
        let index = usize::try_from(attnum).ok()?.checked_sub(1)?;
        self.0.read().ok()?.columns.get(&oid)?.get(index).cloned()
    }

    /// A new snapshot of the tables; the functions' descriptions stay.
    fn replace(&self, mut snapshot: AnnotationSnapshot) {
        if let Ok(mut current) = self.0.write() {
            snapshot.functions = std::mem::take(&mut current.functions);
            *current = snapshot;
        }
    }

    /// The description of function `oid` (`obj_description(oid, 'pg_proc')`).
    pub fn function_description(&self, oid: i32) -> Option<String> {
        self.0.read().ok()?.functions.get(&oid).cloned()
    }

    /// Sets the functions' descriptions, which no catalog scan changes.
    fn describe_functions(&self, descriptions: impl Iterator<Item = (i32, String)>) {
        if let Ok(mut current) = self.0.write() {
            current.functions = descriptions.collect();
        }
    }
}

/// Every table's definition, keyed by the oid `pg_class` gives it.
struct CatalogSnapshot {
    oids: RelationOids,
    tables: Vec<(i32, TableDefinition)>,
    /// Every constraint, and the index behind each key, computed once.
    constraints: Vec<pg_constraint::ConstraintRow>,
    indexes: Vec<pg_index::IndexRow>,
}

/// The `pg_catalog` schema: datafusion-pg-catalog's, with `pg_constraint`
/// and `pg_description` computed from the Delta tables.
#[derive(Debug)]
pub struct PgCatalogOverlay {
    inner: Arc<dyn SchemaProvider>,
    store: DeltaTableStore,
    views: ViewStore,
    annotations: PgAnnotations,
    roles: Arc<RoleStore>,
    /// lakehouse's own functions, listed in `pg_proc` after PostgreSQL's.
    functions: Arc<[OwnFunction]>,
    /// Shared by the overlay tables handed out (see [`SnapshotCache`]).
    cache: Arc<SnapshotCache>,
}

/// A catalog snapshot and the `pg_class` batches it was computed with.
type SnapshotWithClass = (CatalogSnapshot, Vec<RecordBatch>);

/// The last snapshot and the fingerprint of the tables and views it was
/// computed from: psql's `\d` scans pg_class, pg_index and pg_constraint
/// several times per command, and each scan would re-read every table's log.
#[derive(Default)]
struct SnapshotCache(Mutex<Option<(u64, Arc<SnapshotWithClass>)>>);

impl std::fmt::Debug for SnapshotCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SnapshotCache")
    }
}

impl PgCatalogOverlay {
    pub fn new(
        inner: Arc<dyn SchemaProvider>,
        store: DeltaTableStore,
        views: ViewStore,
        annotations: PgAnnotations,
        roles: Arc<RoleStore>,
    ) -> Self {
        PgCatalogOverlay {
            inner,
            store,
            views,
            annotations,
            roles,
            functions: Arc::from(Vec::new()),
            cache: Arc::default(),
        }
    }

    /// Lists `functions` in `pg_proc` (and their descriptions in
    /// `pg_description`), oids from [`FIRST_OWN_FUNCTION_OID`] in this order.
    pub fn with_own_functions(mut self, functions: Vec<OwnFunction>) -> Self {
        self.functions = Arc::from(functions);
        self.annotations.describe_functions(
            pg_proc::descriptions(&self.functions).map(|(oid, text)| (oid, text.to_string())),
        );
        self
    }

    /// The snapshot of the tables as they are now: the cached one while the
    /// tables, their commits and the views are unchanged, else a new one.
    async fn snapshot(&self, state: &dyn Session) -> Result<Arc<SnapshotWithClass>> {
        // Read before computing: a change committed meanwhile makes the next
        // caller's fingerprint differ from the one stored here.
        let fingerprint = self.fingerprint();
        let cached = self.cache.0.lock().ok().and_then(|c| c.clone());
        if let Some((seen, snapshot)) = cached
            && seen == fingerprint
        {
            return Ok(snapshot);
        }
        let snapshot = Arc::new(self.compute_snapshot(state).await?);
        if let Ok(mut cache) = self.cache.0.lock() {
            *cache = Some((fingerprint, snapshot.clone()));
        }
        Ok(snapshot)
    }

    fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.store.fingerprint().hash(&mut hasher);
        self.views.all_names().hash(&mut hasher);
        hasher.finish()
    }

    /// Reads the oids `pg_class` assigns and every table's definition, and
    /// refreshes the annotations from them.
    async fn compute_snapshot(&self, state: &dyn Session) -> Result<SnapshotWithClass> {
        let (oids, pg_class) = RelationOids::read(self.inner.as_ref(), state).await?;
        let tables = self
            .store
            .definitions()
            .await?
            .into_iter()
            // A table created after pg_class was read has no oid yet.
            .filter_map(|d| Some((oids.relation(&d.ident.schema, &d.ident.table)?, d)))
            .collect::<Vec<_>>();
        let constraints = pg_constraint::constraint_rows(&oids, &tables);
        let indexes = pg_index::index_rows(&tables, &constraints);
        let snapshot = CatalogSnapshot {
            oids,
            tables,
            constraints,
            indexes,
        };
        self.annotations.replace(AnnotationSnapshot {
            descriptions: pg_description::relation_comments(&snapshot)
                .map(|(oid, subid, text)| ((oid, subid), text.to_string()))
                .collect(),
            constraint_defs: snapshot
                .constraints
                .iter()
                .map(|c| (c.oid, c.definition()))
                .collect(),
            table_sizes: snapshot
                .tables
                .iter()
                .map(|(oid, t)| (*oid, t.bytes))
                .collect(),
            relations: snapshot.oids.relations().clone(),
            columns: snapshot
                .tables
                .iter()
                .map(|(oid, t)| {
                    (
                        *oid,
                        t.columns.iter().map(|(name, _)| name.clone()).collect(),
                    )
                })
                .collect(),
            index_defs: snapshot
                .indexes
                .iter()
                .map(|i| {
                    let parts = (0..=i.column_count()).filter_map(|n| i.column(n));
                    (i.oid, parts.collect())
                })
                .collect(),
            // Kept by `replace`.
            functions: HashMap::new(),
        });
        Ok((snapshot, pg_class))
    }
}

#[async_trait]
impl SchemaProvider for PgCatalogOverlay {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let kind = match name.to_ascii_lowercase().as_str() {
            "pg_class" => OverlayKind::Class,
            "pg_constraint" => OverlayKind::Constraint,
            "pg_description" => OverlayKind::Description,
            "pg_index" => OverlayKind::Index,
            "pg_type" => OverlayKind::Type,
            "pg_settings" => OverlayKind::Settings,
            "pg_roles" => OverlayKind::Roles,
            "pg_namespace" => OverlayKind::Namespace,
            "pg_am" => OverlayKind::AccessMethod,
            "pg_database" => OverlayKind::Database,
            "pg_proc" => OverlayKind::Proc,
            "pg_attribute" => OverlayKind::Attribute,
            _ => return self.inner.table(name).await,
        };
        let schema = match kind {
            OverlayKind::Class => match self.inner.table(name).await? {
                Some(inner) => pg_class_schema(&inner.schema()),
                None => return Ok(None),
            },
            OverlayKind::Index => match self.inner.table(name).await? {
                Some(inner) => pg_index_schema(&inner.schema()),
                None => return Ok(None),
            },
            OverlayKind::Settings
            | OverlayKind::Roles
            | OverlayKind::Namespace
            | OverlayKind::Database
            | OverlayKind::Attribute
            | OverlayKind::AccessMethod => match self.inner.table(name).await? {
                Some(inner) => inner.schema(),
                None => return Ok(None),
            },
            OverlayKind::Type => match self.inner.table(name).await? {
                Some(inner) => pg_type_schema(&inner.schema()),
                None => return Ok(None),
            },
            OverlayKind::Proc => match self.inner.table(name).await? {
                Some(inner) => pg_proc::schema(&inner.schema()),
                None => return Ok(None),
            },
            OverlayKind::Constraint => pg_constraint::schema(),
            OverlayKind::Description => pg_description::schema(),
        };
        Ok(Some(Arc::new(SystemTable(OverlayTable {
            kind,
            schema,
            overlay: Arc::new(PgCatalogOverlay {
                inner: self.inner.clone(),
                store: self.store.clone(),
                views: self.views.clone(),
                annotations: self.annotations.clone(),
                roles: self.roles.clone(),
                functions: self.functions.clone(),
                cache: self.cache.clone(),
            }),
        }))))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

#[derive(Debug, Clone, Copy)]
enum OverlayKind {
    /// datafusion-pg-catalog's rows; scanning it refreshes the annotations.
    Class,
    Constraint,
    Description,
    Index,
    /// datafusion-pg-catalog's rows, its `"char"` columns marked as such.
    Type,
    /// The session's parameters ([`SessionParameters`]).
    Settings,
    /// lakehouse's roles ([`RoleStore`]).
    Roles,
    /// datafusion-pg-catalog's rows, owned by the bootstrap admin.
    Namespace,
    /// datafusion-pg-catalog's rows and the `delta` table access method.
    AccessMethod,
    /// The one database a client can connect to (datafusion-pg-catalog
    /// adds a `postgres` row, which `\l` listed and no login could use).
    Database,
    /// datafusion-pg-catalog's rows and lakehouse's own functions.
    Proc,
    /// datafusion-pg-catalog's rows with the columns' declared type
    /// modifiers (`numeric(10,2)`, `varchar(5)`).
    Attribute,
}

/// `pg_settings` rows for a session's parameters, in `schema`.
fn settings_batch(
    schema: &SchemaRef,
    parameters: &[(String, String, bool)],
) -> Result<RecordBatch> {
    use datafusion::arrow::array::{ArrayRef, StringArray};
    let text = |f: &dyn Fn(&Parameter) -> Option<String>| -> ArrayRef {
        Arc::new(parameters.iter().map(f).collect::<StringArray>())
    };
    let columns = schema
        .fields()
        .iter()
        .map(|field| -> Result<ArrayRef> {
            Ok(match field.name().as_str() {
                "name" => text(&|p| Some(p.0.clone())),
                "setting" | "reset_val" => text(&|p| Some(p.1.clone())),
                "context" => text(&|p| Some(if p.2 { "internal" } else { "user" }.to_string())),
                "source" => text(&|_| Some("default".to_string())),
                "vartype" => text(&|p| {
                    let numeric = !p.1.is_empty() && p.1.chars().all(|c| c.is_ascii_digit());
                    Some(if numeric { "integer" } else { "string" }.to_string())
                }),
                "pending_restart" => Arc::new(datafusion::arrow::array::BooleanArray::from(vec![
                        false;
                        parameters
                            .len()
                    ])),
                _ => datafusion::arrow::array::new_null_array(field.data_type(), parameters.len()),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// `pg_type` with its one-byte `"char"` columns (`typtype`, `typcategory`...)
/// marked: asyncpg compares them with bytes (`kind == b'b'`).
fn pg_type_schema(fixed: &SchemaRef) -> SchemaRef {
    use datafusion::arrow::datatypes::{Field, Schema};
    let fields: Vec<Field> = fixed
        .fields()
        .iter()
        .map(|f| match f.name().as_str() {
            "typtype" | "typcategory" | "typalign" | "typstorage" | "typdelim" => {
                f.as_ref().clone().with_metadata(HashMap::from([(
                    PG_TYPE_METADATA.to_string(),
                    "char".to_string(),
                )]))
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// What `pg_class` says of tables with keys: `relhasindex` (psql lists a
/// table's indexes only then). `relhastriggers` stays false: psql would then
/// list foreign keys, but also run its trigger query, whose lateral
/// `pg_partition_ancestors(t.tgrelid)` DataFusion cannot plan.
struct RelationFlags {
    has_index: std::collections::HashSet<i32>,
    /// Tables with foreign keys, or referenced by one: PostgreSQL implements
    /// foreign keys with triggers, and psql's `\d` shows "Foreign-key
    /// constraints" and "Referenced by" only when `relhastriggers` is set.
    has_triggers: std::collections::HashSet<i32>,
}

impl RelationFlags {
    fn of(snapshot: &CatalogSnapshot) -> Self {
        let has_index = snapshot
            .tables
            .iter()
            .filter(|(_, table)| table.constraints.keys().next().is_some())
            .map(|(oid, _)| *oid)
            .collect();
        let has_triggers = snapshot
            .tables
            .iter()
            .flat_map(|(oid, table)| {
                let referenced = table.constraints.foreign_keys.iter().filter_map(|fk| {
                    snapshot
                        .oids
                        .relation(&fk.referenced_schema, &fk.referenced_table)
                });
                let own = (!table.constraints.foreign_keys.is_empty()).then_some(*oid);
                own.into_iter().chain(referenced).collect::<Vec<_>>()
            })
            .collect();
        RelationFlags {
            has_index,
            has_triggers,
        }
    }

    fn apply(&self, batch: RecordBatch) -> Result<RecordBatch> {
        use datafusion::arrow::array::{Array, AsArray, BooleanArray};
        use datafusion::arrow::datatypes::Int32Type;
        let Some(oids) = batch
            .column_by_name("oid")
            .and_then(|c| c.as_primitive_opt::<Int32Type>())
        else {
            return Ok(batch);
        };
        let mut columns = batch.columns().to_vec();
        for (name, set) in [
            ("relhasindex", &self.has_index),
            ("relhastriggers", &self.has_triggers),
        ] {
            let (Ok(i), false) = (batch.schema().index_of(name), set.is_empty()) else {
                continue;
            };
            let current = columns[i].as_boolean();
            let patched: BooleanArray = (0..batch.num_rows())
                .map(|row| {
                    if set.contains(&oids.value(row)) {
                        Some(true)
                    } else {
                        (!current.is_null(row)).then(|| current.value(row))
                    }
                })
                .collect();
            columns[i] = Arc::new(patched);
        }
        Ok(RecordBatch::try_new(batch.schema(), columns)?)
    }
}

/// `pg_class` with `reloptions` (`text[]`, NULL here), which index
/// reflection selects.
fn pg_class_schema(fixed: &SchemaRef) -> SchemaRef {
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    let mut fields: Vec<Field> = fixed.fields().iter().map(|f| f.as_ref().clone()).collect();
    if fixed.field_with_name("reloptions").is_err() {
        let text = Arc::new(Field::new("item", DataType::Utf8, true));
        fields.push(Field::new("reloptions", DataType::List(text), true));
    }
    Arc::new(Schema::new(fields))
}

/// A batch of a datafusion-pg-catalog table in the overlay's schema (the
/// same columns by name, plus the overlay's own as NULL).
fn widen(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let rows = batch.num_rows();
    let columns = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(column) => column.clone(),
            None => datafusion::arrow::array::new_null_array(f.data_type(), rows),
        })
        .collect();
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// `pg_index` with its vector columns as arrays: `indkey` and `indoption`
/// `int2[]`, `indcollation` and `indclass` `oid[]`.
fn pg_index_schema(fixed: &SchemaRef) -> SchemaRef {
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    let list = |item: DataType| DataType::List(Arc::new(Field::new("item", item, true)));
    let fields: Vec<Field> = fixed
        .fields()
        .iter()
        .map(|f| match f.name().as_str() {
            "indkey" | "indoption" => Field::new(f.name(), list(DataType::Int16), true)
                .with_metadata(HashMap::from([(
                    PG_TYPE_METADATA.to_string(),
                    "int2vector".to_string(),
                )])),
            "indcollation" | "indclass" => Field::new(f.name(), list(DataType::Int32), true),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

#[derive(Debug)]
struct OverlayTable {
    kind: OverlayKind,
    schema: SchemaRef,
    overlay: Arc<PgCatalogOverlay>,
}

#[async_trait]
impl ComputedTable for OverlayTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn batches(&self, state: &dyn Session) -> Result<Vec<RecordBatch>> {
        // Tables that need no snapshot of the Delta tables.
        match self.kind {
            OverlayKind::Settings => {
                return match state.config().get_extension::<SessionParameters>() {
                    Some(parameters) => Ok(vec![settings_batch(&self.schema, &(parameters.0)())?]),
                    None => self.fixed_rows("pg_settings", state).await,
                };
            }
            OverlayKind::Type => return self.fixed_rows("pg_type", state).await,
            OverlayKind::Proc => {
                // Built-ins have no access privileges here: the text
                // `proacl` is left out, and `widen` makes it a NULL `aclitem[]`.
                let mut batches = Vec::new();
                if let Some(fixed) = self.overlay.inner.table("pg_proc").await? {
                    for batch in relation_oids::collect(fixed.as_ref(), state).await? {
                        let mut batch = batch;
                        if let Ok(acl) = batch.schema().index_of("proacl") {
                            batch.remove_column(acl);
                        }
                        batches.push(widen(batch, &self.schema)?);
                    }
                }
                let type_oids = self.oids_by_name("pg_type", "typname", state).await?;
                let namespaces = self.oids_by_name("pg_namespace", "nspname", state).await?;
                batches.push(pg_proc::batch(
                    &self.schema,
                    &self.overlay.functions,
                    &type_oids,
                    namespaces.get("public").copied().unwrap_or(0),
                )?);
                return Ok(batches);
            }
            OverlayKind::Roles => {
                return Ok(vec![pg_roles::pg_roles_batch(
                    &self.schema,
                    &self.overlay.roles,
                )?]);
            }
            OverlayKind::AccessMethod => {
                let fixed = self.fixed_rows("pg_am", state).await?;
                return with_delta_access_method(&self.schema, fixed);
            }
            OverlayKind::Database => {
                use datafusion::arrow::array::AsArray;
                let database = state.config_options().catalog.default_catalog.clone();
                let mut kept = Vec::new();
                for batch in self.fixed_rows("pg_database", state).await? {
                    let Some(names) = batch.column_by_name("datname") else {
                        kept.push(batch);
                        continue;
                    };
                    let names = datafusion::arrow::compute::cast(
                        names,
                        &datafusion::arrow::datatypes::DataType::Utf8,
                    )?;
                    let mask: datafusion::arrow::array::BooleanArray = names
                        .as_string::<i32>()
                        .iter()
                        .map(|n| Some(n == Some(database.as_str())))
                        .collect();
                    kept.push(datafusion::arrow::compute::filter_record_batch(
                        &batch, &mask,
                    )?);
                }
                return Ok(kept);
            }
            OverlayKind::Namespace => {
                let admin = self.admin_oid();
                return self
                    .fixed_rows("pg_namespace", state)
                    .await?
                    .into_iter()
                    .map(|b| with_int32_column(b, "nspowner", &|_| admin))
                    .collect();
            }
            _ => {}
        }
        let cached = self.overlay.snapshot(state).await?;
        let (snapshot, pg_class) = (&cached.0, &cached.1);
        Ok(match self.kind {
            OverlayKind::Class => {
                let flags = RelationFlags::of(snapshot);
                // A table's owner is the role that created it; the rest
                // (catalogs, views, indexes) belong to the bootstrap admin.
                let admin = self.admin_oid();
                let owners: HashMap<i32, i32> = snapshot
                    .tables
                    .iter()
                    .filter_map(|(oid, t)| Some((*oid, role_oid(t.owner.as_deref()?))))
                    .collect();
                let owner_of = |oid: i32| owners.get(&oid).copied().unwrap_or(admin);
                // Lakehouse tables are stored by the `delta` access method.
                let tables: std::collections::HashSet<i32> =
                    snapshot.tables.iter().map(|(oid, _)| *oid).collect();
                let relam = |oid: i32| tables.contains(&oid).then_some(DELTA_ACCESS_METHOD_OID);
                let mut batches = pg_class
                    .iter()
                    .map(|b| flags.apply(widen(b.clone(), &self.schema)?))
                    .collect::<Result<Vec<_>>>()?;
                batches.push(pg_index::pg_class_rows(&self.schema, &snapshot.indexes)?);
                batches
                    .into_iter()
                    .map(|b| {
                        let b = with_int32_column(b, "relowner", &owner_of)?;
                        with_optional_int32_column(b, "relam", &relam)
                    })
                    .collect::<Result<Vec<_>>>()?
            }
            OverlayKind::Index => vec![pg_index::pg_index_rows(&self.schema, &snapshot.indexes)?],
            OverlayKind::Constraint => vec![pg_constraint::batch(snapshot)?],
            OverlayKind::Description => {
                // PostgreSQL's own descriptions (functions, types) stay.
                let mut batches = self.fixed_rows("pg_description", state).await?;
                batches.push(pg_description::batch(snapshot, &self.overlay.functions)?);
                batches
            }
            OverlayKind::Type
            | OverlayKind::Settings
            | OverlayKind::Roles
            | OverlayKind::Namespace
            | OverlayKind::Database
            | OverlayKind::Proc
            | OverlayKind::AccessMethod => Vec::new(),
            OverlayKind::Attribute => {
                let typmods = pg_attribute::column_typmods(snapshot);
                self.fixed_rows("pg_attribute", state)
                    .await?
                    .into_iter()
                    .map(|b| pg_attribute::with_typmods(b, &typmods))
                    .collect::<Result<Vec<_>>>()?
            }
        })
    }
}

/// The oid of the `delta` table access method in `pg_am` (clear of
/// PostgreSQL's own access methods and of relation oids).
pub const DELTA_ACCESS_METHOD_OID: i32 = 9100;

/// Replaces int4 column `name` of `batch` with `value_of(the row's oid)`.
fn with_int32_column(
    batch: RecordBatch,
    name: &str,
    value_of: &dyn Fn(i32) -> i32,
) -> Result<RecordBatch> {
    with_optional_int32_column(batch, name, &|oid| Some(value_of(oid)))
}

/// Sets int4 column `name` of `batch` where `value_of(the row's oid)` has a
/// value; other rows keep theirs.
fn with_optional_int32_column(
    batch: RecordBatch,
    name: &str,
    value_of: &dyn Fn(i32) -> Option<i32>,
) -> Result<RecordBatch> {
    use datafusion::arrow::array::{Array, AsArray, Int32Array};
    use datafusion::arrow::datatypes::Int32Type;
    let (Ok(column), Some(oids)) = (
        batch.schema().index_of(name),
        batch
            .column_by_name("oid")
            .and_then(|c| c.as_primitive_opt::<Int32Type>()),
    ) else {
        return Ok(batch);
    };
    let Some(current) = batch.column(column).as_primitive_opt::<Int32Type>() else {
        return Ok(batch);
    };
    let values: Int32Array = (0..batch.num_rows())
        .map(|row| {
            let own = (!oids.is_null(row))
                .then(|| value_of(oids.value(row)))
                .flatten();
            own.or_else(|| (!current.is_null(row)).then(|| current.value(row)))
        })
        .collect();
    let mut columns = batch.columns().to_vec();
    columns[column] = Arc::new(values);
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

/// `pg_am` rows: datafusion-pg-catalog's, and `delta`, the table access
/// method of lakehouse tables (psql `\d+`: "Access method: delta").
fn with_delta_access_method(
    schema: &SchemaRef,
    mut batches: Vec<RecordBatch>,
) -> Result<Vec<RecordBatch>> {
    use datafusion::arrow::array::{ArrayRef, Int32Array, StringArray, new_null_array};
    use datafusion::arrow::datatypes::DataType;
    let columns = schema
        .fields()
        .iter()
        .map(|field| -> ArrayRef {
            match (field.name().as_str(), field.data_type()) {
                ("oid", DataType::Int32) => {
                    Arc::new(Int32Array::from(vec![DELTA_ACCESS_METHOD_OID]))
                }
                ("amname", DataType::Utf8) => Arc::new(StringArray::from(vec!["delta"])),
                ("amhandler", DataType::Utf8) => {
                    Arc::new(StringArray::from(vec!["delta_tableam_handler"]))
                }
                ("amtype", DataType::Utf8) => Arc::new(StringArray::from(vec!["t"])),
                _ => new_null_array(field.data_type(), 1),
            }
        })
        .collect();
    batches.push(RecordBatch::try_new(schema.clone(), columns)?);
    Ok(batches)
}

impl OverlayTable {
    /// The bootstrap admin's role oid (0 before there is one).
    fn admin_oid(&self) -> i32 {
        pg_roles::default_owner(&self.overlay.roles).map_or(0, |r| role_oid(&r.name))
    }

    /// Column `name` -> `oid` of datafusion-pg-catalog's `table`
    /// (`pg_type.typname`, `pg_namespace.nspname`).
    async fn oids_by_name(
        &self,
        table: &str,
        name: &str,
        state: &dyn Session,
    ) -> Result<HashMap<String, i32>> {
        use datafusion::arrow::array::{Array, AsArray};
        use datafusion::arrow::datatypes::{DataType, Int32Type};
        let Some(table) = self.overlay.inner.table(table).await? else {
            return Ok(HashMap::new());
        };
        let mut oids = HashMap::new();
        for batch in relation_oids::collect(table.as_ref(), state).await? {
            let (Some(names), Some(oid)) =
                (batch.column_by_name(name), batch.column_by_name("oid"))
            else {
                continue;
            };
            let names = datafusion::arrow::compute::cast(names, &DataType::Utf8)?;
            let oid = datafusion::arrow::compute::cast(oid, &DataType::Int32)?;
            let (names, oid) = (names.as_string::<i32>(), oid.as_primitive::<Int32Type>());
            for row in 0..batch.num_rows() {
                if !names.is_null(row) && !oid.is_null(row) {
                    oids.insert(names.value(row).to_string(), oid.value(row));
                }
            }
        }
        Ok(oids)
    }

    /// datafusion-pg-catalog's rows of `name`, in this table's schema.
    async fn fixed_rows(&self, name: &str, state: &dyn Session) -> Result<Vec<RecordBatch>> {
        let Some(fixed) = self.overlay.inner.table(name).await? else {
            return Ok(Vec::new());
        };
        relation_oids::collect(fixed.as_ref(), state)
            .await?
            .into_iter()
            .map(|batch| widen(batch, &self.schema))
            .collect()
    }
}
