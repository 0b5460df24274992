//! `tessera inspect [--json] [--show-secrets] [<cookie header or value> | -]`: the secrets
//! from the environment (as `tessera serve` reads them), the input from the
//! argument or stdin, and the exit code. The arguments are `cli.rs`'s.

use std::io::{self, IsTerminal, Read};
use std::process::ExitCode;

use tessera::options::EnvError;
use tessera::{Clock, Options, Secrets, SystemClock};

use super::render::{render_json, render_text, OAuthSecrets};
use crate::config::secret_file_path;
use crate::report::OneLine;
use crate::secret_file::{self, SecretFileError};

/// Why no secret could be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// A secret variable is malformed.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// The data directory's secret file is unusable.
    #[error(transparent)]
    File(#[from] SecretFileError),
    /// Nothing configured and no secret file.
    #[error(
        "no secret: set BETTER_AUTH_SECRET or BETTER_AUTH_SECRETS, or TESSERA_DATA_DIR to the \
         directory holding tessera.secret (not found: {path})"
    )]
    Missing {
        /// The secret file looked for.
        path: String,
    },
}

/// The secrets `tessera serve` would use with these variables: the
/// configured ones, else the data directory's secret file if it exists
/// (never created here).
pub fn secrets_from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Secrets, SecretsError> {
    let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
    // Only the secret variables: a bad value elsewhere (a typo in
    // TESSERA_COOKIE_CACHE, say) must not stop an inspection.
    let options = Options::from_vars(|name| {
        matches!(
            name,
            "BETTER_AUTH_SECRET" | "AUTH_SECRET" | "BETTER_AUTH_SECRETS"
        )
        .then(|| get(name))
        .flatten()
    })?;
    if let Some(secrets) = options.secrets {
        return Ok(secrets);
    }
    let path = secret_file_path(&get);
    match secret_file::load_existing(&path)? {
        Some(secret) => Ok(Secrets::single(secret)),
        None => Err(SecretsError::Missing {
            path: std::path::absolute(&path)
                .unwrap_or(path)
                .display()
                .to_string(),
        }),
    }
}

/// Runs `tessera inspect` on `input` (`None`: stdin), reporting as JSON
/// when `json`, with the OAuth cookies' tokens as `secrets` says; the
/// variables come through `get`.
pub fn run(
    json: bool,
    secrets_shown: OAuthSecrets,
    input: Option<String>,
    get: impl Fn(&str) -> Option<String>,
) -> ExitCode {
    let secrets = match secrets_from_vars(get) {
        Ok(secrets) => secrets,
        Err(err) => {
            eprintln!("tessera inspect: {}", OneLine(&err));
            return ExitCode::from(2);
        }
    };
    let input = match input {
        Some(input) => input,
        None => {
            let mut stdin = io::stdin();
            if stdin.is_terminal() {
                eprintln!("reading a Cookie header from stdin; end with Ctrl-D");
            }
            let mut buf = String::new();
            if let Err(err) = stdin.read_to_string(&mut buf) {
                eprintln!("tessera inspect: cannot read stdin: {err}");
                return ExitCode::from(2);
            }
            buf
        }
    };
    let report = super::inspect(&input, &secrets, SystemClock.now());
    if json {
        print!("{}", render_json(&report, secrets_shown));
    } else {
        print!("{}", render_text(&report, secrets_shown));
    }
    if report.any_verified() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::PathBuf;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn secrets_are_read_as_serve_reads_them() {
        let s = secrets_from_vars(vars(&[
            (
                "BETTER_AUTH_SECRETS",
                "2:new-secret-value,1:old-secret-value",
            ),
            ("BETTER_AUTH_SECRET", "legacy-secret-value"),
            // Not a secret variable: ignored here, even when invalid.
            ("TESSERA_COOKIE_CACHE", "jws"),
        ]))
        .unwrap();
        let versions: Vec<_> = s.all().iter().map(|e| e.version()).collect();
        assert_eq!(versions, [Some(2), Some(1), None]);
        let s = secrets_from_vars(vars(&[("AUTH_SECRET", "only-auth-secret")])).unwrap();
        assert_eq!(s.current().expose(), b"only-auth-secret");
    }

    #[test]
    fn secret_file_is_used_but_never_created() {
        let dir = std::env::temp_dir().join(format!(
            "tessera-inspect-secret-{}-{}",
            std::process::id(),
            SystemClock.now().as_millis()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let data_dir = dir.to_str().unwrap();
        let err = secrets_from_vars(vars(&[("TESSERA_DATA_DIR", data_dir)])).unwrap_err();
        assert!(matches!(err, SecretsError::Missing { .. }), "{err}");
        assert!(err.to_string().contains("BETTER_AUTH_SECRET"), "{err}");
        assert!(!PathBuf::from(&dir).join("tessera.secret").exists());
        std::fs::write(dir.join("tessera.secret"), "file-secret-value\n").unwrap();
        #[cfg(unix)]
        {
            // The secret file must be its owner's alone (0600).
            use std::os::unix::fs::PermissionsExt;
            let owner_only = std::fs::Permissions::from_mode(0o600);
            std::fs::set_permissions(dir.join("tessera.secret"), owner_only).unwrap();
        }
        let s = secrets_from_vars(vars(&[("TESSERA_DATA_DIR", data_dir)])).unwrap();
        assert_eq!(s.current().expose(), b"file-secret-value");
        // A configured secret wins over the file.
        let s = secrets_from_vars(vars(&[
            ("TESSERA_DATA_DIR", data_dir),
            ("BETTER_AUTH_SECRET", "configured-secret"),
        ]))
        .unwrap();
        assert_eq!(s.current().expose(), b"configured-secret");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn malformed_secret_list_is_an_error_without_the_secret() {
        let err = secrets_from_vars(vars(&[("BETTER_AUTH_SECRETS", "x:hunter2")])).unwrap_err();
        assert!(err.to_string().contains("BETTER_AUTH_SECRETS"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
