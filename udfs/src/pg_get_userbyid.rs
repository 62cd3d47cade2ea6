//! `pg_get_userbyid(role oid) -> name`: the role with that oid (see
//! `lakehouse_catalog::pg_catalog::role_oid`), or `unknown (OID=n)` as
//! PostgreSQL prints an oid no role has. psql shows owners with it.
//! (datafusion-pg-catalog's answers `postgres` for every oid.)

use std::sync::Arc;

use crate::oid_arg::per_oid;
use datafusion::arrow::array::StringArray;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use lakehouse_catalog::RoleStore;
use lakehouse_catalog::pg_catalog::{default_owner, role_oid};

/// PostgreSQL's bootstrap superuser (`pg_database.datdba` of the fixed rows).
const BOOTSTRAP_SUPERUSER_OID: i64 = 10;

#[derive(Debug)]
pub struct PgGetUserById {
    signature: Signature,
    roles: Arc<RoleStore>,
}

same_function_identity!(PgGetUserById, "pg_get_userbyid");

pub fn pg_get_userbyid(roles: Arc<RoleStore>) -> ScalarUDF {
    ScalarUDF::new_from_impl(PgGetUserById {
        signature: Signature::any(1, Volatility::Stable),
        roles,
    })
}

impl ScalarUDFImpl for PgGetUserById {
    fn name(&self) -> &str {
        "pg_get_userbyid"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let mut roles: Vec<(i64, String)> = self
            .roles
            .names()
            .into_iter()
            .map(|name| (i64::from(role_oid(&name)), name))
            .collect();
        if let Some(admin) = default_owner(&self.roles) {
            roles.push((BOOTSTRAP_SUPERUSER_OID, admin.name));
        }
        let names: StringArray = per_oid(&args.args[0], args.number_rows, |oid| {
            Some(
                roles
                    .iter()
                    .find(|(o, _)| *o == oid)
                    .map_or_else(|| format!("unknown (OID={oid})"), |(_, n)| n.clone()),
            )
        })?
        .into_iter()
        .collect();
        Ok(ColumnarValue::Array(Arc::new(names)))
    }
}
