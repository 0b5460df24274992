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
    /// The file is a symbolic link, a directory, a FIFO or a device: it
    /// may not be the file tessera wrote, so it is not read.
    #[error(
        "the secret file {} is not a regular file (a symbolic link, directory or device); replace it with a regular file of mode 0600, delete it to generate a new secret, or set BETTER_AUTH_SECRET",
        path.display()
    )]
    NotRegular {
        /// The file.
        path: PathBuf,
    },
    /// Another user owns the file: they could have chosen the secret.
    #[error(
        "the secret file {} is owned by uid {owner}, not by uid {euid} that tessera runs as: run `chown {euid} {}`, delete it to generate a new secret, or set BETTER_AUTH_SECRET",
        path.display(),
        path.display()
    )]
    Owner {
        /// The file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The effective uid of this process.
        euid: u32,
    },
    /// Other users may read or write the file.
    #[error(
        "the secret file {} has mode {mode:04o} and must have mode 0600 (no access for group and others): run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    Mode {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
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

/// Reads the secret of an existing file: trimmed, never empty, from a
/// regular file that only its owner, this process's user, can use.
fn read_existing(path: &Path) -> Result<String, SecretFileError> {
    let read_error = |source| SecretFileError::Read {
        path: path.to_owned(),
        source,
    };
    let mut file = open_trusted(path)?;
    let mut contents = String::new();
    file.read_to_string(&mut contents).map_err(read_error)?;
    let secret = contents.trim();
    if secret.is_empty() {
        return Err(SecretFileError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(secret.to_owned())
}

/// Opens `path` without following a symbolic link, then checks what was
/// opened (not the path again, which could be swapped in between): a
/// regular file owned by the effective uid, mode 0600 or stricter.
#[cfg(unix)]
fn open_trusted(path: &Path) -> Result<File, SecretFileError> {
    use rustix::fs::{Mode, OFlags};
    use std::os::unix::fs::MetadataExt;

    // NONBLOCK: opening a FIFO planted here must not hang start-up.
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let file = match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => File::from(fd),
        // ELOOP: the last component is a symbolic link (EMLINK on some BSDs).
        Err(e) if e == rustix::io::Errno::LOOP || e == rustix::io::Errno::MLINK => {
            return Err(SecretFileError::NotRegular {
                path: path.to_owned(),
            })
        }
        Err(e) => {
            return Err(SecretFileError::Read {
                path: path.to_owned(),
                source: e.into(),
            })
        }
    };
    let meta = file.metadata().map_err(|source| SecretFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    if !meta.file_type().is_file() {
        return Err(SecretFileError::NotRegular {
            path: path.to_owned(),
        });
    }
    let euid = rustix::process::geteuid().as_raw();
    if meta.uid() != euid {
        return Err(SecretFileError::Owner {
            path: path.to_owned(),
            owner: meta.uid(),
            euid,
        });
    }
    // Only the owner's read and write bits: 0600, or stricter.
    let mode = meta.mode() & 0o7777;
    if mode & !0o600 != 0 {
        return Err(SecretFileError::Mode {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(file)
}

#[cfg(not(unix))]
fn open_trusted(path: &Path) -> Result<File, SecretFileError> {
    let file = File::open(path).map_err(|source| SecretFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    match file.metadata() {
        Ok(meta) if meta.is_file() => Ok(file),
        Ok(_) => Err(SecretFileError::NotRegular {
            path: path.to_owned(),
        }),
        Err(source) => Err(SecretFileError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// 32 bytes from the OS generator, hex-encoded (64 characters).
fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Creates `path`, failing if it exists; readable by its owner only.
/// `O_CREAT | O_EXCL`: atomic, and never follows a symbolic link (a
/// dangling one included), so the file written is the file created.
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
        owner_only(&path);
        let err = load_or_create(&path).unwrap_err();
        assert!(matches!(err, SecretFileError::Empty { .. }));
        assert!(err.to_string().contains("tessera.secret"), "{err}");
    }

    #[test]
    fn a_directory_is_not_a_secret_file() {
        let dir = TempDir::new("dir");
        let path = dir.0.join("tessera.secret");
        fs::create_dir(&path).unwrap();
        let err = load_or_create(&path).unwrap_err();
        assert!(matches!(err, SecretFileError::NotRegular { .. }), "{err}");
    }

    /// `chmod 600`, as a file the secret check accepts.
    fn owner_only(path: &Path) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
        }
        #[cfg(not(unix))]
        let _ = path;
    }

    /// A secret file as an operator might leave it: `contents`, `mode`.
    #[cfg(unix)]
    fn secret_file(dir: &TempDir, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.0.join("tessera.secret");
        fs::write(&path, "an-operator-chosen-secret-of-enough-length\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_is_refused_even_to_a_good_file() {
        let dir = TempDir::new("symlink");
        let target = secret_file(&dir, 0o600);
        let link = dir.0.join("link.secret");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = load_or_create(&link).unwrap_err();
        assert!(matches!(err, SecretFileError::NotRegular { .. }), "{err}");
        // A dangling link is not followed to create a file elsewhere either.
        let dangling = dir.0.join("dangling.secret");
        std::os::unix::fs::symlink(dir.0.join("elsewhere"), &dangling).unwrap();
        assert!(load_or_create(&dangling).is_err());
        assert!(!dir.0.join("elsewhere").exists());
    }

    #[cfg(unix)]
    #[test]
    fn group_or_world_access_is_refused_naming_chmod() {
        for mode in [0o644, 0o640, 0o604, 0o660, 0o602, 0o700, 0o4600] {
            let dir = TempDir::new("mode");
            let path = secret_file(&dir, mode);
            let err = load_or_create(&path).unwrap_err();
            assert!(
                matches!(err, SecretFileError::Mode { .. }),
                "{mode:o}: {err}"
            );
            let line = err.to_string();
            assert!(
                line.contains(&format!("chmod 600 {}", path.display())),
                "{line}"
            );
            assert!(!line.contains('\n'), "{line}");
        }
        for mode in [0o600, 0o400] {
            let dir = TempDir::new("mode-ok");
            let path = secret_file(&dir, mode);
            let (secret, outcome) = load_or_create(&path).unwrap();
            assert_eq!(secret, "an-operator-chosen-secret-of-enough-length");
            assert_eq!(outcome, SecretFileOutcome::Reused);
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = TempDir::new("fifo");
        let path = dir.0.join("tessera.secret");
        let made = std::process::Command::new("mkfifo").arg(&path).status();
        if !made.is_ok_and(|s| s.success()) {
            return; // no mkfifo here
        }
        let err = load_or_create(&path).unwrap_err();
        assert!(matches!(err, SecretFileError::NotRegular { .. }), "{err}");
    }

    /// Needs root, to give the file away.
    #[cfg(unix)]
    #[test]
    fn another_users_file_is_refused_naming_chown() {
        let dir = TempDir::new("owner");
        let path = secret_file(&dir, 0o600);
        if std::os::unix::fs::chown(&path, Some(65534), None).is_err() {
            return; // not root: cannot give the file away
        }
        let err = load_or_create(&path).unwrap_err();
        match &err {
            SecretFileError::Owner { owner, .. } => assert_eq!(*owner, 65534),
            other => panic!("{other}"),
        }
        assert!(err.to_string().contains("chown "), "{err}");
        assert!(matches!(
            load_existing(&path),
            Err(SecretFileError::Owner { .. })
        ));
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
