//! The generated secret kept in the data directory when none is configured.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use rand::RngCore;

/// What [`load_or_create`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretFileOutcome {
    /// The file did not exist; a new secret was written to it.
    Generated,
    /// The file existed; its secret is used.
    Reused,
}

/// The secret file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    /// Creating or writing the file failed.
    #[error("cannot create the secret file {}: {source}", path.display())]
    Create {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file exists but cannot be read.
    #[error(
        "cannot read the secret file {}: {source}; fix it or set BETTER_AUTH_SECRET",
        path.display()
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file exists but holds no secret.
    #[error(
        "the secret file {} is empty; delete it to generate a new secret, or set BETTER_AUTH_SECRET",
        path.display()
    )]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// The secret in `path`, generating it (32 random bytes, hex, mode 0600)
/// when the file does not exist yet.
pub fn load_or_create(path: &Path) -> Result<(String, SecretFileOutcome), SecretFileError> {
    match create_new(path) {
        Ok(mut file) => {
            let secret = generate();
            let written = file
                .write_all(format!("{secret}\n").as_bytes())
                .and_then(|()| file.sync_all());
            if let Err(source) = written {
                // Leave no empty or partial file behind to be "reused".
                let _ = fs::remove_file(path);
                return Err(SecretFileError::Create {
                    path: path.to_owned(),
                    source,
                });
            }
            Ok((secret, SecretFileOutcome::Generated))
        }
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
            Ok((read_existing(path)?, SecretFileOutcome::Reused))
        }
        Err(source) => Err(SecretFileError::Create {
            path: path.to_owned(),
            source,
        }),
    }
}

/// The secret in `path` if the file exists; never creates it (for
/// `tessera inspect`, which must not leave a fresh secret behind).
pub fn load_existing(path: &Path) -> Result<Option<String>, SecretFileError> {
    match fs::symlink_metadata(path) {
        Ok(_) => read_existing(path).map(Some),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SecretFileError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Reads the secret of an existing file: trimmed, never empty.
fn read_existing(path: &Path) -> Result<String, SecretFileError> {
    let mut contents = String::new();
    File::open(path)
        .and_then(|mut f| f.read_to_string(&mut contents))
        .map_err(|source| SecretFileError::Read {
            path: path.to_owned(),
            source,
        })?;
    let secret = contents.trim();
    if secret.is_empty() {
        return Err(SecretFileError::Empty {
            path: path.to_owned(),
        });
    }
    if group_or_world_readable(path) {
        tracing::warn!(
            "the secret file {} is readable by other users; run `chmod 600` on it",
            path.display()
        );
    }
    Ok(secret.to_owned())
}

/// 32 bytes from the OS generator, hex-encoded (64 characters).
fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Creates `path`, failing if it exists; readable by its owner only.
fn create_new(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

#[cfg(unix)]
fn group_or_world_readable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}

#[cfg(not(unix))]
fn group_or_world_readable(_path: &Path) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let dir = std::env::temp_dir().join(format!(
                "tessera-secret-{name}-{}-{nanos}",
                std::process::id()
            ));
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn generates_once_then_reuses() {
        let dir = TempDir::new("reuse");
        let path = dir.0.join("tessera.secret");
        let (first, outcome) = load_or_create(&path).unwrap();
        assert_eq!(outcome, SecretFileOutcome::Generated);
        assert_eq!(first.len(), 64);
        assert!(first.bytes().all(|b| b.is_ascii_hexdigit()));
        let (second, outcome) = load_or_create(&path).unwrap();
        assert_eq!(outcome, SecretFileOutcome::Reused);
        assert_eq!(first, second);
    }

    #[cfg(unix)]
    #[test]
    fn generated_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new("mode");
        let path = dir.0.join("tessera.secret");
        load_or_create(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn empty_file_is_an_error_naming_it() {
        let dir = TempDir::new("empty");
        let path = dir.0.join("tessera.secret");
        fs::write(&path, "\n").unwrap();
        let err = load_or_create(&path).unwrap_err();
        assert!(matches!(err, SecretFileError::Empty { .. }));
        assert!(err.to_string().contains("tessera.secret"), "{err}");
    }

    #[test]
    fn unreadable_file_is_an_error() {
        let dir = TempDir::new("dir");
        // A directory where the file should be: exists, cannot be read.
        let path = dir.0.join("tessera.secret");
        fs::create_dir(&path).unwrap();
        let err = load_or_create(&path).unwrap_err();
        assert!(matches!(err, SecretFileError::Read { .. }), "{err}");
    }

    #[test]
    fn load_existing_never_creates_the_file() {
        let dir = TempDir::new("existing");
        let path = dir.0.join("tessera.secret");
        assert_eq!(load_existing(&path).unwrap(), None);
        assert!(!path.exists());
        let (secret, _) = load_or_create(&path).unwrap();
        assert_eq!(load_existing(&path).unwrap(), Some(secret));
        fs::write(&path, " \n").unwrap();
        assert!(matches!(
            load_existing(&path),
            Err(SecretFileError::Empty { .. })
        ));
    }

    #[test]
    fn missing_data_dir_is_a_create_error() {
        let dir = TempDir::new("missing");
        let path = dir.0.join("absent").join("tessera.secret");
        let err = load_or_create(&path).unwrap_err();
        assert!(matches!(err, SecretFileError::Create { .. }), "{err}");
    }
}
