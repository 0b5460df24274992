//! OAuth providers from the environment (`tessera serve`, the example
//! apps, yours), one set of variables per provider
//! id `<ID>` (upper case in the name, lower case as the id):
//!
//! | variable | meaning |
//! |---|---|
//! | `TESSERA_OAUTH_<ID>_ISSUER` | a generic OpenID Connect provider, discovered from this issuer |
//! | `TESSERA_OAUTH_<ID>_PRESET` | or one of `google`, `github`, `microsoft`, `discord` |
//! | `TESSERA_OAUTH_<ID>_TENANT` | `microsoft` only: the Entra ID tenant (default `common`) |
//! | `TESSERA_OAUTH_<ID>_CLIENT_ID` | the client id (required) |
//! | `TESSERA_OAUTH_<ID>_CLIENT_SECRET` | the client secret |
//! | `TESSERA_OAUTH_<ID>_SCOPES` | space-separated scopes (default `openid email profile` for OIDC; the preset's own) |
//! | `TESSERA_OAUTH_<ID>_PROMPT` | `prompt` |
//! | `TESSERA_OAUTH_<ID>_NAME` | the name people see (default: the preset's, else the id) |

use super::ProviderConfig;

/// The variables' common prefix.
const PREFIX: &str = "TESSERA_OAUTH_";
/// The suffixes that name a provider's variables.
const SUFFIXES: [&str; 8] = [
    "_ISSUER",
    "_PRESET",
    "_TENANT",
    "_CLIENT_ID",
    "_CLIENT_SECRET",
    "_SCOPES",
    "_PROMPT",
    "_NAME",
];

/// A provider read from the environment, not yet discovered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderSpec {
    /// Its configuration.
    pub config: ProviderConfig,
    /// The variable that names its issuer or preset (for start-up errors).
    pub variable: String,
}

/// Why a provider's variables are unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {reason}")]
#[non_exhaustive]
pub struct OAuthConfigError {
    /// The variable to fix.
    pub variable: String,
    /// What is wrong.
    pub reason: String,
}

/// The provider ids the variable `names` mention, lower case, sorted.
pub fn provider_ids<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut ids: Vec<String> = names
        .into_iter()
        .filter_map(|name| {
            let rest = name.strip_prefix(PREFIX)?;
            // The longest suffix first: `_CLIENT_ID` before `_ID`-like tails.
            SUFFIXES
                .iter()
                .filter_map(|s| rest.strip_suffix(s))
                .find(|id| !id.is_empty())
                .map(str::to_ascii_lowercase)
        })
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Every provider the process environment mentions, read from it.
pub fn providers_from_env() -> Result<Vec<ProviderSpec>, OAuthConfigError> {
    let names: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| k.starts_with(PREFIX))
        .collect();
    providers(names.iter().map(String::as_str), |k| std::env::var(k).ok())
}

/// Every provider the variable `names` mention, read through `get`.
///
/// ```
/// use tessera::oauth::env::providers;
///
/// let vars = [
///     ("TESSERA_OAUTH_CORP_ISSUER", "https://id.example.com"),
///     ("TESSERA_OAUTH_CORP_CLIENT_ID", "my-app"),
/// ];
/// let get = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
/// let specs = providers(vars.iter().map(|(n, _)| *n), get).unwrap();
/// assert_eq!(specs[0].config.id, "corp");
/// assert_eq!(specs[0].variable, "TESSERA_OAUTH_CORP_ISSUER");
/// ```
pub fn providers<'a>(
    names: impl IntoIterator<Item = &'a str>,
    get: impl Fn(&str) -> Option<String>,
) -> Result<Vec<ProviderSpec>, OAuthConfigError> {
    provider_ids(names)
        .iter()
        .map(|id| provider(id, &get))
        .collect()
}

fn provider(
    id: &str,
    get: &impl Fn(&str) -> Option<String>,
) -> Result<ProviderSpec, OAuthConfigError> {
    let upper = id.to_ascii_uppercase();
    let var = |suffix: &str| format!("{PREFIX}{upper}{suffix}");
    let value = |suffix: &str| get(&var(suffix)).filter(|v| !v.trim().is_empty());
    let error = |suffix: &str, reason: &str| OAuthConfigError {
        variable: var(suffix),
        reason: reason.to_owned(),
    };
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(error(
            "_CLIENT_ID",
            "a provider id is letters, digits and '_'",
        ));
    }
    let client_id = value("_CLIENT_ID")
        .ok_or_else(|| error("_CLIENT_ID", "not set: every provider needs its client id"))?;
    let secret = value("_CLIENT_SECRET");
    let (mut config, variable) = match (value("_ISSUER"), value("_PRESET")) {
        (Some(_), Some(_)) => {
            return Err(error("_PRESET", "set either _ISSUER or _PRESET, not both"));
        }
        (Some(issuer), None) => {
            if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
                return Err(error("_ISSUER", "expected an http(s) URL"));
            }
            (
                ProviderConfig::oidc(id, issuer, client_id, secret),
                var("_ISSUER"),
            )
        }
        (None, Some(preset)) => {
            // The presets' providers only know confidential clients.
            if secret.is_none() {
                return Err(error(
                    "_CLIENT_SECRET",
                    "not set: this provider needs the client secret it issued",
                ));
            }
            let config = match preset.trim() {
                "google" => ProviderConfig::google(client_id, secret),
                "github" => ProviderConfig::github(client_id, secret),
                "discord" => ProviderConfig::discord(client_id, secret),
                "microsoft" => {
                    let tenant = value("_TENANT").unwrap_or_else(|| "common".to_owned());
                    ProviderConfig::microsoft(tenant.trim(), client_id, secret)
                }
                _ => {
                    return Err(error(
                        "_PRESET",
                        "expected google, github, microsoft or discord",
                    ))
                }
            };
            (with_id(config, id), var("_PRESET"))
        }
        (None, None) => {
            return Err(error(
                "_ISSUER",
                "not set: give the issuer of an OpenID provider, or _PRESET",
            ))
        }
    };
    if let Some(scopes) = value("_SCOPES") {
        config = config.with_scopes(scopes.split_whitespace());
    }
    if let Some(prompt) = value("_PROMPT") {
        config = config.with_prompt(prompt.trim());
    }
    if let Some(name) = value("_NAME") {
        config = config.with_name(name.trim());
    }
    Ok(ProviderSpec { config, variable })
}

/// A preset under the id the environment gave it.
fn with_id(mut config: ProviderConfig, id: &str) -> ProviderConfig {
    config.id = id.to_owned();
    config
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn read(vars: &HashMap<String, String>) -> Result<Vec<ProviderSpec>, OAuthConfigError> {
        providers(vars.keys().map(String::as_str), |k| vars.get(k).cloned())
    }

    #[test]
    fn ids_come_from_the_variable_names() {
        let ids = provider_ids([
            "TESSERA_OAUTH_OIDC_ISSUER",
            "TESSERA_OAUTH_OIDC_CLIENT_ID",
            "TESSERA_OAUTH_MY_IDP_CLIENT_SECRET",
            "TESSERA_OAUTH_STATE",
            "TESSERA_OAUTH_GOOGLE_PRESET",
            "PATH",
        ]);
        assert_eq!(ids, ["google", "my_idp", "oidc"]);
    }

    #[test]
    fn a_generic_provider_and_a_preset() {
        let vars = env(&[
            ("TESSERA_OAUTH_OIDC_ISSUER", "http://127.0.0.1:4010"),
            ("TESSERA_OAUTH_OIDC_CLIENT_ID", "tessera-test"),
            ("TESSERA_OAUTH_OIDC_CLIENT_SECRET", "s"),
            (
                "TESSERA_OAUTH_OIDC_SCOPES",
                "openid email profile offline_access",
            ),
            ("TESSERA_OAUTH_OIDC_PROMPT", "consent"),
            ("TESSERA_OAUTH_GH_PRESET", "github"),
            ("TESSERA_OAUTH_GH_CLIENT_ID", "c"),
            ("TESSERA_OAUTH_GH_CLIENT_SECRET", "s"),
        ]);
        let specs = read(&vars).unwrap();
        assert_eq!(specs.len(), 2);
        let gh = &specs[0].config;
        assert_eq!((gh.id.as_str(), gh.name.as_str()), ("gh", "GitHub"));
        let oidc = &specs[1].config;
        assert_eq!(oidc.scopes.len(), 4);
        assert_eq!(oidc.prompt.as_deref(), Some("consent"));
        assert_eq!(specs[1].variable, "TESSERA_OAUTH_OIDC_ISSUER");
    }

    #[test]
    fn mistakes_name_the_variable() {
        let no_client = env(&[("TESSERA_OAUTH_OIDC_ISSUER", "http://127.0.0.1:4010")]);
        assert_eq!(
            read(&no_client).unwrap_err().variable,
            "TESSERA_OAUTH_OIDC_CLIENT_ID"
        );
        let bad_preset = env(&[
            ("TESSERA_OAUTH_X_PRESET", "gitlab"),
            ("TESSERA_OAUTH_X_CLIENT_ID", "c"),
            ("TESSERA_OAUTH_X_CLIENT_SECRET", "s"),
        ]);
        let no_secret = env(&[
            ("TESSERA_OAUTH_X_PRESET", "google"),
            ("TESSERA_OAUTH_X_CLIENT_ID", "c"),
        ]);
        assert_eq!(
            read(&no_secret).unwrap_err().variable,
            "TESSERA_OAUTH_X_CLIENT_SECRET"
        );
        assert_eq!(
            read(&bad_preset).unwrap_err().variable,
            "TESSERA_OAUTH_X_PRESET"
        );
        let neither = env(&[("TESSERA_OAUTH_X_CLIENT_ID", "c")]);
        assert_eq!(
            read(&neither).unwrap_err().variable,
            "TESSERA_OAUTH_X_ISSUER"
        );
        let bad_issuer = env(&[
            ("TESSERA_OAUTH_X_ISSUER", "ftp://x"),
            ("TESSERA_OAUTH_X_CLIENT_ID", "c"),
        ]);
        assert_eq!(
            read(&bad_issuer).unwrap_err().variable,
            "TESSERA_OAUTH_X_ISSUER"
        );
    }
}
