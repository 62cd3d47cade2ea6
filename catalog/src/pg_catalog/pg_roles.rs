//! Roles in pg_catalog: `pg_roles` from lakehouse's [`RoleStore`], the oid
//! each role has there, and the owners `pg_class.relowner` and
//! `pg_namespace.nspowner` name (datafusion-pg-catalog's give every role oid 0
//! and every relation owner 0).
//!
//! A role's oid is derived from its name, so it is the same in every session
//! and after a restart without being stored.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int32Array, RecordBatch, StringArray, new_null_array,
};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::error::Result;

use crate::roles::{Role, RoleStore};

/// The oid of role `name`: FNV-1a of the name, in [2^30, 2^31) (clear of
/// PostgreSQL's fixed oids and of the relation oids handed out from 16384).
pub fn role_oid(name: &str) -> i32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in name.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    ((hash & 0x3fff_ffff) | 0x4000_0000) as i32
}

/// The role objects belong to when no creating role is recorded: the first
/// superuser (the bootstrap admin). PostgreSQL's bootstrap superuser has oid
/// 10, which datafusion-pg-catalog's own rows (`pg_database.datdba`) use.
pub fn default_owner(roles: &RoleStore) -> Option<Role> {
    roles
        .all()
        .into_iter()
        .filter(|r| r.superuser)
        .min_by_key(|r| r.created_ms)
}

/// `pg_roles` rows in `schema` (datafusion-pg-catalog's columns): one per
/// role; what lakehouse does not track is PostgreSQL's default.
pub(super) fn pg_roles_batch(schema: &SchemaRef, roles: &RoleStore) -> Result<RecordBatch> {
    let roles = roles.all();
    let columns = schema
        .fields()
        .iter()
        .map(|field| -> ArrayRef {
            let flag = |f: &dyn Fn(&Role) -> bool| -> ArrayRef {
                Arc::new(BooleanArray::from(roles.iter().map(f).collect::<Vec<_>>()))
            };
            match field.name().as_str() {
                "rolname" => Arc::new(StringArray::from_iter_values(
                    roles.iter().map(|r| r.name.clone()),
                )),
                "oid" => Arc::new(Int32Array::from_iter_values(
                    roles.iter().map(|r| role_oid(&r.name)),
                )),
                "rolsuper" | "rolcreaterole" | "rolcreatedb" | "rolreplication"
                | "rolbypassrls" => flag(&|r| r.superuser),
                "rolinherit" => flag(&|_| true),
                "rolcanlogin" => flag(&|r| r.verifier.is_some()),
                "rolconnlimit" if field.data_type() == &DataType::Int32 => {
                    Arc::new(Int32Array::from(vec![-1; roles.len()]))
                }
                "rolpassword" if field.data_type() == &DataType::Utf8 => Arc::new(
                    StringArray::from_iter_values(roles.iter().map(|_| "********")),
                ),
                _ => new_null_array(field.data_type(), roles.len()),
            }
        })
        .collect();
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::role_oid;

    #[test]
    fn role_oids_are_stable_and_in_range() {
        assert_eq!(role_oid("lakehouse"), role_oid("lakehouse"));
        assert_ne!(role_oid("lakehouse"), role_oid("analyst"));
        for name in ["", "a", "lakehouse", "postgres"] {
            assert!(role_oid(name) >= 1 << 30);
        }
    }
}
