//! The database `TESSERA_DATABASE_URL` names, opened (and migrated) for
//! `tessera serve` and `tessera migrate`.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tessera::store::{Database, MemoryDatabase};
use tessera_sql::{ConnectError, MigrateError, Migrated, SqlDatabase};

use crate::config::DatabaseChoice;

/// Why the database could not be used, naming the variable; never the URL
/// (it may carry a password). The causes are in the `source()` chain
/// ([`crate::report::OneLine`] prints them).
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    /// The data directory of the embedded default cannot be created.
    #[error("TESSERA_DATA_DIR: cannot create {}: {source}", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The embedded default's SQLite file cannot be created.
    #[error("TESSERA_DATA_DIR: cannot create {}: {source}", path.display())]
    DataFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The database cannot be opened or reached.
    #[error("{variable}: {source}")]
    Connect {
        /// `TESSERA_DATABASE_URL`, or `TESSERA_DATA_DIR` for the embedded default.
        variable: &'static str,
        /// Why.
        source: ConnectError,
    },
    /// The schema cannot be brought up to date.
    #[error("{variable}: {source}")]
    Migrate {
        /// As above.
        variable: &'static str,
        /// Why.
        source: MigrateError,
    },
}

/// An opened database.
pub struct Opened {
    /// What the kernel gets; `None` in stateless mode.
    pub database: Option<Arc<dyn Database>>,
    /// The same, when it is SQL (it has a schema).
    pub sql: Option<SqlDatabase>,
    /// For the start-up line `database: …`.
    pub described: String,
    variable: &'static str,
}

/// Opens the chosen database. A SQLite file (and, for the embedded
/// default, its data directory) is created when missing; PostgreSQL must
/// answer now, so a wrong address fails start-up rather than a request.
pub async fn open(choice: &DatabaseChoice) -> Result<Opened, DatabaseError> {
    let (variable, opened) = match choice {
        DatabaseChoice::Memory | DatabaseChoice::None => {
            let database: Option<Arc<dyn Database>> = match choice {
                DatabaseChoice::Memory => Some(Arc::new(MemoryDatabase::new())),
                _ => None,
            };
            return Ok(Opened {
                database,
                sql: None,
                described: choice.to_string(),
                variable: "TESSERA_DATABASE_URL",
            });
        }
        DatabaseChoice::EmbeddedDefault(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| DatabaseError::DataDir {
                    path: dir.to_owned(),
                    source,
                })?;
            }
            create_owner_only(path).map_err(|source| DatabaseError::DataFile {
                path: path.to_owned(),
                source,
            })?;
            ("TESSERA_DATA_DIR", SqlDatabase::open_sqlite(path).await)
        }
        DatabaseChoice::Sqlite(url) | DatabaseChoice::Postgres(url) => {
            ("TESSERA_DATABASE_URL", SqlDatabase::connect(url).await)
        }
    };
    let sql = opened.map_err(|source| DatabaseError::Connect { variable, source })?;
    Ok(Opened {
        database: Some(Arc::new(sql.clone())),
        described: sql.to_string(),
        sql: Some(sql),
        variable,
    })
}

impl Opened {
    /// Applies the migrations this build has and the database lacks;
    /// `None` for a database without a schema (memory, none).
    pub async fn migrate(&self) -> Result<Option<Migrated>, DatabaseError> {
        let Some(sql) = &self.sql else {
            return Ok(None);
        };
        sql.migrate()
            .await
            .map(Some)
            .map_err(|source| DatabaseError::Migrate {
                variable: self.variable,
                source,
            })
    }
}

/// Creates the embedded default's SQLite file, empty and readable by its
/// owner only, unless it exists: it holds password hashes and session
/// tokens. SQLite gives its `-wal`, `-shm` and `-journal` files the
/// database file's mode, so they are 0600 too. An existing file is left as
/// it is, with a warning when others may read it.
fn create_owner_only(path: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
            warn_if_others_may_read(path);
            Ok(())
        }
        Err(err) => Err(err),
    }
}

#[cfg(unix)]
fn warn_if_others_may_read(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                "the database {} has mode {mode:04o}: other users may read its password hashes and sessions; run `chmod 600` on it",
                path.display()
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_others_may_read(_path: &Path) {}

/// `version 2 (just applied: 1, 2)` or `version 2, up to date`.
pub fn describe_migrated(migrated: &Migrated) -> String {
    if migrated.applied.is_empty() {
        return format!("version {}, up to date", migrated.version);
    }
    let applied: Vec<String> = migrated
        .applied
        .iter()
        .map(|m| m.version.to_string())
        .collect();
    format!(
        "version {} (just applied: {})",
        migrated.version,
        applied.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unreachable_postgres_is_one_line_naming_the_variable() {
        let choice =
            DatabaseChoice::Postgres("postgres://postgres:hunter2@127.0.0.1:1/test".to_owned());
        let Err(err) = open(&choice).await else {
            panic!("nothing listens on port 1");
        };
        let line = crate::report::OneLine(&err).to_string();
        assert!(
            line.starts_with(
                "TESSERA_DATABASE_URL: cannot connect to PostgreSQL at 127.0.0.1:1/test: "
            ),
            "{line}"
        );
        assert_eq!(line.to_lowercase().matches("refused").count(), 1, "{line}");
        assert!(!line.contains('\n') && !line.contains("hunter2"), "{line}");
    }

    #[tokio::test]
    async fn memory_and_none_have_no_schema() {
        let memory = open(&DatabaseChoice::Memory).await.unwrap();
        assert!(memory.database.is_some() && memory.sql.is_none());
        let none = open(&DatabaseChoice::None).await.unwrap();
        assert!(none.database.is_none() && none.sql.is_none());
    }
}
