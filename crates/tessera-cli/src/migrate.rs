//! `tessera migrate`: brings the schema of the database
//! `TESSERA_DATABASE_URL` names up to date, then exits. `tessera serve`
//! does the same at start-up unless `TESSERA_MIGRATE=false`.

use crate::config::{self, ConfigError};
use crate::database::{self, DatabaseError};

/// Why `tessera migrate` failed. Each renders as one line.
#[derive(Debug, thiserror::Error)]
pub enum MigrateCommandError {
    /// A bad environment variable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database cannot be opened or migrated.
    #[error(transparent)]
    Database(#[from] DatabaseError),
}

/// Reads `TESSERA_DATABASE_URL` (and `TESSERA_DATA_DIR`) through `get` and
/// migrates that database, printing what it did.
pub async fn run(get: impl Fn(&str) -> Option<String>) -> Result<(), MigrateCommandError> {
    let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
    let choice = config::database_choice(&get)?;
    let opened = database::open(&choice).await?;
    println!("database: {}", opened.described);
    let Some(migrated) = opened.migrate().await? else {
        println!("nothing to migrate: this database has no schema");
        return Ok(());
    };
    for m in &migrated.applied {
        println!("applied migration {}: {}", m.version, m.name);
    }
    println!("schema: {}", database::describe_migrated(&migrated));
    if let Some(sql) = &opened.sql {
        sql.close().await;
    }
    Ok(())
}
