//! `tessera inspect`: what the better-auth cookies of a `Cookie` header say,
//! checked with this deployment's secrets — the tool for when another
//! service disagrees about a session or an OAuth sign-in.
//!
//! [`inspect`] is a pure function of the input, the secrets and "now" that
//! answers a [`Report`]; [`render`] turns it into text or JSON (the OAuth
//! tokens in it redacted unless asked for) and [`command`] is the glue
//! (arguments, environment, stdin, exit code). Every check is the kernel's
//! own: [`verify_value`] for signed cookies, [`read_chunked`] for chunks,
//! [`SessionCache::codec_for`] for the cache, [`StateCipher`] for
//! `oauth_state` and [`AccountCookie`] for `account_data`.

pub mod command;
pub mod render;

use std::fmt;

use tessera::cache::{CacheStrategy, CachedSession, KeySetupError, Miss, SessionCache};
use tessera::cookie::{
    read_chunked, verify_value, AuthCookies, CookieDef, CookieOptions, RequestCookies,
};
use tessera::oauth::{AccountCookie, Purpose, StateCipher, StateCookieError, StateData};
use tessera::store::Account;
use tessera::{Secrets, Timestamp};

/// The strategies a `session_data` value is tried with, in order.
const STRATEGIES: [CacheStrategy; 3] = [
    CacheStrategy::Compact,
    CacheStrategy::Jwt,
    CacheStrategy::Jwe,
];

/// Name shown for a value given without a cookie name.
pub const BARE_VALUE_NAME: &str = "(value)";

/// The members of an `oauth_state` that are secrets: redacted unless asked for.
pub const STATE_SECRETS: [&str; 2] = ["codeVerifier", "idTokenNonce"];
/// The members of an `account_data` account that are secrets: redacted
/// unless asked for.
pub const ACCOUNT_SECRETS: [&str; 3] = ["accessToken", "refreshToken", "idToken"];

/// What `tessera inspect` found.
#[derive(Debug)]
pub struct Report {
    /// The secrets the checks used, current first (labels only, never values).
    pub secrets: Vec<SecretLabel>,
    /// One entry per cookie found, in header order; `session_data` and
    /// `account_data` chunks are one entry each.
    pub cookies: Vec<CookieReport>,
}

impl Report {
    /// Whether at least one cookie verified or decrypted.
    pub fn any_verified(&self) -> bool {
        self.cookies.iter().any(CookieReport::verified)
    }
}

/// One cookie (or one chunked `session_data` or `account_data`) and what
/// its check found.
#[derive(Debug)]
pub struct CookieReport {
    /// The wire name (the base name for chunks), or [`BARE_VALUE_NAME`].
    pub name: String,
    /// What the cookie is.
    pub kind: Kind,
    /// What its check found.
    pub check: Check,
}

impl CookieReport {
    /// Whether its signature verified, or its cache, state or account
    /// decrypted (expired or not).
    pub fn verified(&self) -> bool {
        match &self.check {
            Check::Signed(s) => s.result.is_ok(),
            Check::Cache(c) => c.result.is_ok(),
            Check::State(s) => s.result.is_ok(),
            Check::Account(a) => a.result.is_ok(),
            Check::Neither { .. } | Check::Ignored => false,
        }
    }
}

/// What a cookie is, from its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `better-auth.session_token`.
    SessionToken,
    /// `better-auth.dont_remember`.
    DontRemember,
    /// `better-auth.session_token_multi-<token>` (multi-session plugin).
    MultiSession,
    /// `better-auth.session_data` (the cookie cache).
    SessionData,
    /// `better-auth.oauth_state` (an OAuth sign-in's state, spec §4.3).
    OAuthState,
    /// `better-auth.account_data` (the provider account in stateless mode,
    /// spec §4.2).
    AccountData,
    /// A bare signed value (no cookie name given).
    SignedValue,
    /// A bare value that is neither signed nor a cookie cache.
    Unknown,
    /// A cookie this tool does not check.
    Ignored,
}

impl Kind {
    /// The name scripts see in `--json` output.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::SessionToken => "session_token",
            Kind::DontRemember => "dont_remember",
            Kind::MultiSession => "multi_session",
            Kind::SessionData => "session_data",
            Kind::OAuthState => "oauth_state",
            Kind::AccountData => "account_data",
            Kind::SignedValue => "signed",
            Kind::Unknown => "unknown",
            Kind::Ignored => "ignored",
        }
    }
}

/// The outcome of a cookie's check.
#[derive(Debug)]
pub enum Check {
    /// A signed cookie (spec §1.4).
    Signed(SignedCheck),
    /// A cookie cache (spec §2).
    Cache(CacheCheck),
    /// An `oauth_state` cookie.
    State(StateCheck),
    /// An `account_data` cookie.
    Account(AccountCheck),
    /// A bare value that neither verifies as signed nor decodes as a cache.
    Neither {
        /// Tried as a signed value.
        signed: SignedCheck,
        /// Tried as a cookie cache.
        cache: CacheCheck,
    },
    /// Not checked.
    Ignored,
}

/// Which configured secret verified or decrypted a value. Never the secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecretLabel {
    /// Its version (`BETTER_AUTH_SECRETS`); `None` for a single or legacy secret.
    pub version: Option<u32>,
    /// Whether it is the current secret (the one new values are signed with).
    pub current: bool,
}

impl fmt::Display for SecretLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.version, self.current) {
            (Some(v), true) => write!(f, "secret version {v}, current"),
            (Some(v), false) => write!(f, "secret version {v}, not current"),
            (None, true) => f.write_str("current secret"),
            (None, false) => f.write_str("legacy secret"),
        }
    }
}

/// A signed cookie's check.
#[derive(Debug)]
pub struct SignedCheck {
    /// The value before the signature (the session token); not to be
    /// trusted unless `result` is `Ok`.
    pub payload: Option<String>,
    /// The secret that verified it, or why nothing did.
    pub result: Result<SecretLabel, SignedError>,
    /// Anything else worth knowing, one sentence each.
    pub notes: Vec<String>,
}

/// Why a signed value did not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignedError {
    /// Not `<value>.<44-character base64 signature>` at all.
    NotSigned,
    /// Well-formed, but no configured secret made this signature.
    BadSignature,
}

impl fmt::Display for SignedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignedError::NotSigned => {
                "not a signed value (expected <value>.<44-character base64 signature>)"
            }
            SignedError::BadSignature => "the signature matches no configured secret",
        })
    }
}

/// A cookie cache's check.
#[derive(Debug)]
pub struct CacheCheck {
    /// How many `.0`, `.1`, … chunks were reassembled (0: a single cookie).
    pub chunks: usize,
    /// The decoded cache, or why no strategy decoded it.
    pub result: Result<DecodedCache, CacheError>,
    /// The cached `session.token` against the verified `session_token` of
    /// the same name prefix; `None` when there is none to compare with.
    pub token: Option<TokenCheck>,
    /// Anything else worth knowing, one sentence each.
    pub notes: Vec<String>,
}

/// A cookie cache that decoded.
#[derive(Debug)]
pub struct DecodedCache {
    /// The strategy that decoded it.
    pub strategy: CacheStrategy,
    /// The secret that verified or decrypted it, when it can be told.
    pub secret: Option<SecretLabel>,
    /// The cache's own expiry has passed: a server ignores it.
    pub expired: bool,
    /// The session inside has expired.
    pub session_expired: bool,
    /// What it holds.
    pub cached: CachedSession,
}

/// Why a cookie cache did not decode.
#[derive(Debug)]
pub enum CacheError {
    /// Chunk cookies whose names give no value (`.0`, `.1`, … expected).
    Unreadable,
    /// No strategy decoded the value; why each refused it.
    NoStrategy(Vec<StrategyMiss>),
}

impl CacheError {
    /// Whether some strategy recognised the value's shape.
    pub fn recognised(&self) -> bool {
        match self {
            CacheError::Unreadable => false,
            CacheError::NoStrategy(misses) => misses.iter().any(|m| m.recognised),
        }
    }
}

/// Why one strategy refused a value.
#[derive(Debug)]
pub struct StrategyMiss {
    /// The strategy.
    pub strategy: CacheStrategy,
    /// Why, in words.
    pub reason: String,
    /// The value has this strategy's shape, so this is the strategy's
    /// own verdict rather than "not mine".
    pub recognised: bool,
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let misses = match self {
            CacheError::Unreadable => {
                return f.write_str("the chunk cookies give no value (expected .0, .1, …)")
            }
            CacheError::NoStrategy(misses) => misses,
        };
        let recognised: Vec<&StrategyMiss> = misses.iter().filter(|m| m.recognised).collect();
        if recognised.is_empty() {
            return f.write_str("not a compact, jwt or jwe cookie cache");
        }
        for (i, miss) in recognised.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", miss.strategy, miss.reason)?;
        }
        Ok(())
    }
}

/// An `oauth_state` cookie's check.
#[derive(Debug)]
pub struct StateCheck {
    /// The state it holds, or why it did not open.
    pub result: Result<OpenedState, StateError>,
}

/// An `oauth_state` that decrypted.
#[derive(Debug)]
pub struct OpenedState {
    /// The secret that decrypted it.
    pub secret: SecretLabel,
    /// Its `expiresAt` has passed: a callback refuses it (`state_mismatch`).
    pub expired: bool,
    /// What it holds, code verifier and nonce included (the renderers
    /// redact them).
    pub data: StateData,
}

/// Why an `oauth_state` did not open.
#[derive(Debug)]
pub enum StateError {
    /// An empty value: what the `Set-Cookie` that deletes it carries.
    Empty,
    /// The kernel's reason (every one is `state_invalid` on a callback).
    Sealed(StateCookieError),
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::Empty => f.write_str("empty (the Set-Cookie that deletes the cookie)"),
            StateError::Sealed(err) => err.fmt(f),
        }
    }
}

/// An `account_data` cookie's check.
#[derive(Debug)]
pub struct AccountCheck {
    /// How many `.0`, `.1`, … chunks were reassembled (0: a single cookie).
    pub chunks: usize,
    /// The account it holds, or why it did not open.
    pub result: Result<OpenedAccount, AccountError>,
    /// Anything else worth knowing, one sentence each.
    pub notes: Vec<String>,
}

/// An `account_data` that decrypted.
#[derive(Debug)]
pub struct OpenedAccount {
    /// The secret that decrypted it.
    pub secret: Option<SecretLabel>,
    /// Its `exp` has passed: a server ignores it.
    pub expired: bool,
    /// The account, tokens included (the renderers redact them).
    pub account: Account,
}

/// Why an `account_data` did not open.
#[derive(Debug)]
pub enum AccountError {
    /// Chunk cookies whose names give no value (`.0`, `.1`, … expected).
    Unreadable,
    /// The account cookie's keys could not be derived from the secrets.
    KeySetup(KeySetupError),
    /// The kernel's reason.
    Miss(Miss),
}

impl fmt::Display for AccountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountError::Unreadable => {
                f.write_str("the chunk cookies give no value (expected .0, .1, …)")
            }
            AccountError::KeySetup(err) => write!(f, "cannot set up the account cookie: {err}"),
            AccountError::Miss(miss) => write!(f, "account cookie: {miss}"),
        }
    }
}

/// The cached token against the verified `session_token`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenCheck {
    /// The same token.
    Matches {
        /// The `session_token` cookie compared with.
        cookie: String,
    },
    /// Different tokens: a server ignores this cache (spec §6.4 step 7).
    Mismatch {
        /// The `session_token` cookie compared with.
        cookie: String,
    },
}

/// Checks every better-auth cookie in `input` — a `Cookie` header value
/// (`Cookie:` and `Set-Cookie:` lines are accepted too) or a single cookie
/// value — with `secrets`, at `now`.
pub fn inspect(input: &str, secrets: &Secrets, now: Timestamp) -> Report {
    let inspector = Inspector::new(secrets, now);
    let input = normalise(input);
    let cookies = if input.is_empty() {
        Vec::new()
    } else if is_bare_value(&input) {
        vec![inspector.bare(&input)]
    } else {
        inspector.header(&input)
    };
    Report {
        secrets: inspector.labels(),
        cookies,
    }
}

/// One `Cookie` header from what a developer pastes: header names are
/// dropped, a `Set-Cookie` line keeps only its `name=value`, lines join
/// with `; `.
fn normalise(input: &str) -> String {
    let mut parts = Vec::new();
    for line in input.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("set-cookie:") {
            let pair = line["set-cookie:".len()..].split(';').next().unwrap_or("");
            parts.push(pair.trim().to_owned());
        } else if lower.starts_with("cookie:") {
            parts.push(line["cookie:".len()..].trim().to_owned());
        } else {
            parts.push(line.to_owned());
        }
    }
    parts.retain(|p| !p.is_empty());
    parts.join("; ")
}

/// A value has no `;` and no `=` but its base64 padding; a header has a
/// `name=value`.
fn is_bare_value(input: &str) -> bool {
    !input.contains(';') && !input.trim_end_matches('=').contains('=')
}

/// Known cookie names, with and without `__Secure-`.
struct Names {
    secure: bool,
    cookies: AuthCookies,
}

impl Names {
    fn new(secure: bool) -> Self {
        Names {
            secure,
            cookies: AuthCookies::new(&CookieOptions::default(), secure, 0, 0),
        }
    }

    fn multi_prefix(&self) -> String {
        format!("{}_multi-", self.cookies.session_token.name)
    }

    fn chunk_prefix(&self) -> String {
        format!("{}.", self.cookies.session_data.name)
    }

    fn account_chunk_prefix(&self) -> String {
        format!("{}.", self.cookies.account_data.name)
    }
}

struct Inspector<'a> {
    secrets: &'a Secrets,
    now: Timestamp,
    names: [Names; 2],
}

impl<'a> Inspector<'a> {
    fn new(secrets: &'a Secrets, now: Timestamp) -> Self {
        Inspector {
            secrets,
            now,
            names: [Names::new(false), Names::new(true)],
        }
    }

    fn labels(&self) -> Vec<SecretLabel> {
        (0..self.secrets.all().len())
            .map(|i| self.label(i))
            .collect()
    }

    fn label(&self, index: usize) -> SecretLabel {
        SecretLabel {
            version: self.secrets.all()[index].version(),
            current: index == 0,
        }
    }

    /// Each configured secret on its own, current first, to tell which one
    /// verified a value.
    fn each_secret(&self) -> impl Iterator<Item = (usize, Secrets)> + '_ {
        self.secrets.all().iter().enumerate().map(|(i, entry)| {
            (
                i,
                Secrets::single(String::from_utf8_lossy(entry.expose()).into_owned()),
            )
        })
    }

    fn header(&self, header: &str) -> Vec<CookieReport> {
        let request = RequestCookies::parse(header);
        let mut reports = Vec::new();
        let mut data_done = [false, false];
        let mut account_done = [false, false];
        for (name, value) in request.iter() {
            let Some((names, kind)) = self.classify(name) else {
                reports.push(CookieReport {
                    name: name.to_owned(),
                    kind: Kind::Ignored,
                    check: Check::Ignored,
                });
                continue;
            };
            let check = match kind {
                Kind::SessionData => {
                    if std::mem::replace(&mut data_done[usize::from(names.secure)], true) {
                        continue;
                    }
                    let check = self.session_data(names, &request);
                    reports.push(CookieReport {
                        name: names.cookies.session_data.name.clone(),
                        kind,
                        check: Check::Cache(check),
                    });
                    continue;
                }
                Kind::AccountData => {
                    if std::mem::replace(&mut account_done[usize::from(names.secure)], true) {
                        continue;
                    }
                    reports.push(CookieReport {
                        name: names.cookies.account_data.name.clone(),
                        kind,
                        check: Check::Account(self.account_data(names, &request)),
                    });
                    continue;
                }
                Kind::OAuthState => {
                    reports.push(CookieReport {
                        name: name.to_owned(),
                        kind,
                        check: Check::State(self.oauth_state(value)),
                    });
                    continue;
                }
                Kind::DontRemember => {
                    let mut check = self.signed(value);
                    if check.result.is_ok() && check.payload.as_deref() != Some("true") {
                        check
                            .notes
                            .push("dont_remember should sign the literal \"true\"".to_owned());
                    }
                    check
                }
                Kind::MultiSession => {
                    let mut check = self.signed(value);
                    let suffix = &name[names.multi_prefix().len()..];
                    if let (Ok(_), Some(token)) = (&check.result, &check.payload) {
                        if token.to_lowercase() != suffix {
                            check.notes.push(
                                "the token in the cookie name is not the signed token (lowercased)"
                                    .to_owned(),
                            );
                        }
                    }
                    check
                }
                _ => self.signed(value),
            };
            reports.push(CookieReport {
                name: name.to_owned(),
                kind,
                check: Check::Signed(check),
            });
        }
        reports
    }

    fn classify(&self, name: &str) -> Option<(&Names, Kind)> {
        self.names.iter().find_map(|names| {
            let c = &names.cookies;
            let kind = if name == c.session_token.name {
                Kind::SessionToken
            } else if name == c.dont_remember.name {
                Kind::DontRemember
            } else if name.starts_with(&names.multi_prefix()) {
                Kind::MultiSession
            } else if name == c.session_data.name || name.starts_with(&names.chunk_prefix()) {
                Kind::SessionData
            } else if name == c.oauth_state.name {
                Kind::OAuthState
            } else if name == c.account_data.name || name.starts_with(&names.account_chunk_prefix())
            {
                Kind::AccountData
            } else {
                return None;
            };
            Some((names, kind))
        })
    }

    fn signed(&self, value: &str) -> SignedCheck {
        let payload = value
            .rsplit_once('.')
            .map(|(payload, _)| payload)
            .filter(|p| !p.is_empty())
            .map(str::to_owned);
        let result = match verify_value(self.secrets, value) {
            Some(_) => Ok(self
                .each_secret()
                .find(|(_, single)| verify_value(single, value).is_some())
                .map_or(self.label(0), |(i, _)| self.label(i))),
            None => Err(if has_signature_shape(value) {
                SignedError::BadSignature
            } else {
                SignedError::NotSigned
            }),
        };
        let mut notes = Vec::new();
        if matches!(result, Ok(label) if !label.current) {
            notes.push(ONLY_CURRENT_SECRET.to_owned());
        }
        SignedCheck {
            payload,
            result,
            notes,
        }
    }

    fn session_data(&self, names: &Names, request: &RequestCookies) -> CacheCheck {
        let def = &names.cookies.session_data;
        let (chunks, notes) = chunking(def, request);
        let token_cookie = &names.cookies.session_token.name;
        let verified_token = request
            .get(token_cookie)
            .and_then(|v| verify_value(self.secrets, v));
        let Some(value) = read_chunked(def, request) else {
            return CacheCheck {
                chunks,
                result: Err(CacheError::Unreadable),
                token: None,
                notes,
            };
        };
        let mut check = self.cache(&value);
        check.chunks = chunks;
        check.notes.extend(notes);
        if let (Ok(decoded), Some(token)) = (&check.result, verified_token) {
            let cookie = token_cookie.clone();
            check.token = Some(if decoded.cached.data.session.token == token {
                TokenCheck::Matches { cookie }
            } else {
                TokenCheck::Mismatch { cookie }
            });
        }
        check
    }

    /// Tries every strategy on `value`; an expired cache is decoded again
    /// with the expiry check off (`now` = the epoch) to show its content.
    fn cache(&self, value: &str) -> CacheCheck {
        let mut misses = Vec::new();
        for strategy in STRATEGIES {
            let codec = match SessionCache::codec_for(strategy, self.secrets) {
                Ok(codec) => codec,
                Err(err) => {
                    misses.push(StrategyMiss {
                        strategy,
                        reason: format!("cannot set up the codec: {err}"),
                        recognised: false,
                    });
                    continue;
                }
            };
            let decoded = match codec.decode(value, self.now) {
                Ok(cached) => Ok(cached),
                Err(Miss::Expired) => codec.decode(value, Timestamp::EPOCH),
                Err(miss) => Err(miss),
            };
            match decoded {
                Ok(cached) => return self.decoded(strategy, value, cached),
                Err(miss) => misses.push(StrategyMiss {
                    strategy,
                    reason: miss.to_string(),
                    recognised: has_shape_of(strategy, value),
                }),
            }
        }
        CacheCheck {
            chunks: 0,
            result: Err(CacheError::NoStrategy(misses)),
            token: None,
            notes: Vec::new(),
        }
    }

    fn decoded(&self, strategy: CacheStrategy, value: &str, cached: CachedSession) -> CacheCheck {
        let secret = self
            .each_secret()
            .find(|(_, single)| {
                SessionCache::codec_for(strategy, single)
                    .is_ok_and(|codec| codec.decode(value, Timestamp::EPOCH).is_ok())
            })
            .map(|(i, _)| self.label(i));
        let mut notes = Vec::new();
        // jwe decrypts with any secret version in better-auth too; the HMAC
        // strategies use the current one only (spec §11.2).
        if strategy != CacheStrategy::Jwe && secret.is_some_and(|s| !s.current) {
            notes.push(ONLY_CURRENT_SECRET.to_owned());
        }
        CacheCheck {
            chunks: 0,
            result: Ok(DecodedCache {
                strategy,
                secret,
                // A server uses the cache while `expiresAt >= now`.
                expired: cached.expires_at < self.now,
                session_expired: cached.data.session.expires_at < self.now,
                cached,
            }),
            token: None,
            notes,
        }
    }

    /// The `oauth_state` value: opened as the callback opens it.
    fn oauth_state(&self, value: &str) -> StateCheck {
        if value.is_empty() {
            return StateCheck {
                result: Err(StateError::Empty),
            };
        }
        let cipher = StateCipher::new(self.secrets, Purpose::OAuthStateCookie);
        let result = cipher
            .open(value)
            .map(|data| OpenedState {
                secret: self.state_secret(value),
                // A callback refuses it once `expiresAt < now`.
                expired: data.is_expired(self.now),
                data,
            })
            .map_err(StateError::Sealed);
        StateCheck { result }
    }

    /// Which secret opened an `oauth_state` value: the form of the value
    /// decides (spec §11.2), as in the kernel. A `$ba$<version>$` envelope
    /// opens with that version only, a bare-hex value with the single
    /// secret, or beside versions with the legacy one.
    fn state_secret(&self, value: &str) -> SecretLabel {
        let all = self.secrets.all();
        if self.secrets.current().version().is_none() {
            return self.label(0);
        }
        if value.starts_with("$ba$") {
            let opens = |entry: &tessera::secret::SecretEntry| {
                let Some(version) = entry.version() else {
                    return false;
                };
                let secret = String::from_utf8_lossy(entry.expose()).into_owned();
                Secrets::versioned(vec![(version, secret)], None).is_ok_and(|alone| {
                    StateCipher::new(&alone, Purpose::OAuthStateCookie)
                        .open_str(value)
                        .is_ok()
                })
            };
            if let Some(i) = all.iter().position(opens) {
                return self.label(i);
            }
        } else if let Some(legacy) = self.secrets.legacy() {
            if let Some(i) = all.iter().position(|e| std::ptr::eq(e, legacy)) {
                return self.label(i);
            }
        }
        self.label(0)
    }

    /// The `account_data` cookie (its chunks reassembled), opened as the
    /// account routes open it; an expired one is opened again with the
    /// expiry check off (`now` = the epoch) to show its content.
    fn account_data(&self, names: &Names, request: &RequestCookies) -> AccountCheck {
        let def = &names.cookies.account_data;
        let (chunks, mut notes) = chunking(def, request);
        let Some(value) = read_chunked(def, request) else {
            return AccountCheck {
                chunks,
                result: Err(AccountError::Unreadable),
                notes,
            };
        };
        let mut check = self.account(&value);
        check.chunks = chunks;
        notes.append(&mut check.notes);
        check.notes = notes;
        // The account routes serve it only to its own user's session.
        if let Ok(opened) = &check.result {
            let session_user = read_chunked(&names.cookies.session_data, request)
                .and_then(|v| self.cache(&v).result.ok())
                .map(|d| d.cached.data.user.id.clone());
            if let Some(session_user) = session_user {
                if session_user != opened.account.user_id {
                    check.notes.push(format!(
                        "the account belongs to user {}, the session_data beside it to user \
                         {session_user}: a server answers ACCOUNT_NOT_FOUND",
                        opened.account.user_id
                    ));
                }
            }
        }
        check
    }

    fn account(&self, value: &str) -> AccountCheck {
        let opened = AccountCookie::new(self.secrets)
            .map_err(AccountError::KeySetup)
            .and_then(|codec| {
                match codec.open(value, self.now) {
                    Ok(account) => Ok((account, false)),
                    Err(Miss::Expired) => codec.open(value, Timestamp::EPOCH).map(|a| (a, true)),
                    Err(miss) => Err(miss),
                }
                .map_err(AccountError::Miss)
            });
        let result = match opened {
            Ok((account, expired)) => Ok(OpenedAccount {
                secret: self
                    .each_secret()
                    .find(|(_, single)| {
                        AccountCookie::new(single)
                            .is_ok_and(|codec| codec.open(value, Timestamp::EPOCH).is_ok())
                    })
                    .map(|(i, _)| self.label(i)),
                expired,
                account,
            }),
            Err(err) => Err(err),
        };
        AccountCheck {
            chunks: 0,
            result,
            notes: Vec::new(),
        }
    }

    /// A value without a name: a signed value, else a cookie cache, else
    /// an `account_data` or `oauth_state` value.
    fn bare(&self, input: &str) -> CookieReport {
        // Percent-decoded as a cookie value would be.
        let request = RequestCookies::parse(&format!("v={input}"));
        let value = request.get("v").unwrap_or(input);
        let report = |kind, check| CookieReport {
            name: BARE_VALUE_NAME.to_owned(),
            kind,
            check,
        };
        let signed = self.signed(value);
        if signed.result.is_ok() {
            return report(Kind::SignedValue, Check::Signed(signed));
        }
        let cache = self.cache(value);
        let cache_recognised = match &cache.result {
            Ok(_) => return report(Kind::SessionData, Check::Cache(cache)),
            Err(err) => err.recognised(),
        };
        let account = self.account(value);
        if account.result.is_ok() {
            return report(Kind::AccountData, Check::Account(account));
        }
        let state = self.oauth_state(value);
        if state.result.is_ok() {
            return report(Kind::OAuthState, Check::State(state));
        }
        if cache_recognised {
            report(Kind::SessionData, Check::Cache(cache))
        } else if signed.result == Err(SignedError::BadSignature) {
            report(Kind::SignedValue, Check::Signed(signed))
        } else {
            report(Kind::Unknown, Check::Neither { signed, cache })
        }
    }
}

/// How many chunks of `def` a request carries and what to say about them:
/// a whole cookie beside chunks wins, and its chunks are not read.
fn chunking(def: &CookieDef, request: &RequestCookies) -> (usize, Vec<String>) {
    let prefix = format!("{}.", def.name);
    let chunk_count = request
        .strict()
        .filter(|(n, _)| {
            n.strip_prefix(&prefix)
                .is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
        })
        .count();
    let whole = request.get(&def.name).is_some();
    let mut notes = Vec::new();
    if whole && chunk_count > 0 {
        notes.push(format!(
            "the unchunked {} wins; its {chunk_count} chunk cookie(s) are not read",
            def.name
        ));
    }
    (if whole { 0 } else { chunk_count }, notes)
}

const ONLY_CURRENT_SECRET: &str = "better-auth verifies this with its current secret only, so a better-auth service would reject it (spec §11.2)";

/// better-call's shape of a signed value: `<value>.<sig>`, the signature
/// 44 characters ending in `=` (spec §1.4). Only tells "not signed" from
/// "bad signature"; the verification itself is the kernel's.
fn has_signature_shape(value: &str) -> bool {
    value
        .rsplit_once('.')
        .is_some_and(|(p, sig)| !p.is_empty() && sig.len() == 44 && sig.ends_with('='))
}

/// Whether `value` looks like a `strategy` cache: compact is base64url
/// JSON (`{"` encodes as `eyJ`) without dots; jwt and jwe are compact JOSE
/// serialisations of 3 and 5 parts whose header is JSON. The shape only
/// picks which strategy's refusal to report; decoding is the kernel's.
fn has_shape_of(strategy: CacheStrategy, value: &str) -> bool {
    let parts = value.split('.').count();
    value.starts_with("eyJ")
        && match strategy {
            CacheStrategy::Compact => parts == 1,
            CacheStrategy::Jwt => parts == 3,
            CacheStrategy::Jwe => parts == 5,
        }
}

#[cfg(test)]
mod tests;
