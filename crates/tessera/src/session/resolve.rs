//! `/get-session`, step by step (spec §6.4), and the cookie work that goes
//! with a session: setting it (`setSessionCookie`, `setCookieCache`) and
//! clearing it (`deleteSessionCookie`).

use std::sync::Arc;

use super::engine::{CacheHit, ResolveError, SessionEngine};
use super::Verdict;
use crate::cache::{Entry, SessionCache};
use crate::cookie::{read_chunked, sign_value, verify_value, CookieJar, RequestCookies};
use crate::store::{SessionUpdate, SessionWithUser};
use crate::Timestamp;

/// Switches of one resolution (the `/get-session` query and mode).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResolveOptions {
    /// Skip the cookie cache and read the store (`disableCookieCache`).
    pub disable_cookie_cache: bool,
    /// Never extend the session in this request (`disableRefresh`).
    pub disable_refresh: bool,
    /// A `deferSessionRefresh` read: no refresh, no deletion, report
    /// `needsRefresh` instead.
    pub read_only: bool,
}

impl ResolveOptions {
    /// An authoritative read: the store, not the cookie cache
    /// (`disableCookieCache`, what sensitive endpoints use).
    ///
    /// ```
    /// let opts = tessera::ResolveOptions::from_store();
    /// assert!(opts.disable_cookie_cache && !opts.disable_refresh);
    /// ```
    pub const fn from_store() -> Self {
        ResolveOptions {
            disable_cookie_cache: true,
            disable_refresh: false,
            read_only: false,
        }
    }

    /// These options, never extending the session (`disableRefresh`).
    pub const fn without_refresh(mut self) -> Self {
        self.disable_refresh = true;
        self
    }

    /// These options as a `deferSessionRefresh` read: no refresh, no
    /// deletion, `needsRefresh` reported instead.
    pub const fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }
}

/// A resolved session **and** the `Set-Cookie` headers the response must
/// carry (refresh, cache rewrite, or deletion). The only way to get the
/// session is together with its cookie work, so a refresh cannot be lost.
#[derive(Debug, Default)]
#[must_use = "the Set-Cookie headers must be applied to the response"]
pub struct SessionOutcome {
    /// The session and its user, or `None` when signed out.
    pub session: Option<SessionWithUser>,
    /// `Set-Cookie` headers for the response.
    pub cookies: CookieJar,
    /// With `deferSessionRefresh`, whether the client should `POST /get-session`.
    pub needs_refresh: Option<bool>,
}

/// What one resolution found, for the kernel's own use.
#[derive(Debug, Default)]
pub(crate) struct Resolved {
    /// The session and its user, shared with the cookie-cache memo on a hit.
    pub(crate) session: Option<Arc<SessionWithUser>>,
    /// With `deferSessionRefresh`, whether the client should `POST /get-session`.
    pub(crate) needs_refresh: Option<bool>,
    /// The cookie cache it came from, on a hit: it holds the session's
    /// get-session JSON, rendered once per cache value.
    pub(crate) cache_entry: Option<Arc<Entry>>,
}

impl Resolved {
    fn found(session: Arc<SessionWithUser>, needs_refresh: Option<bool>) -> Self {
        Resolved {
            session: Some(session),
            needs_refresh,
            cache_entry: None,
        }
    }
}

impl SessionEngine {
    /// The verified session token of a request, if any.
    pub(crate) fn session_token<'c>(&self, cookies: &'c RequestCookies) -> Option<&'c str> {
        let raw = cookies.get(&self.cookies.session_token.name)?;
        verify_value(&self.secrets, raw)
    }

    /// Whether the request carries a validly signed `dont_remember` cookie.
    pub(crate) fn has_dont_remember(&self, cookies: &RequestCookies) -> bool {
        cookies
            .get(&self.cookies.dont_remember.name)
            .and_then(|raw| verify_value(&self.secrets, raw))
            .is_some()
    }

    /// Expires `session_data` and every chunk of it the request carried.
    fn expire_cache_cookie(&self, jar: &mut CookieJar, cookies: &RequestCookies) {
        jar.expire(&self.cookies.session_data);
        jar.expire_request_chunks_only(&self.cookies.session_data, cookies);
    }

    /// spec §6.4, in order. Cookie work goes into `jar`.
    pub(crate) async fn resolve(
        &self,
        cookies: &RequestCookies,
        opts: ResolveOptions,
        jar: &mut CookieJar,
        now: Timestamp,
    ) -> Result<Resolved, ResolveError> {
        let cache_on = self.cache.enabled;
        let use_cache = cache_on && !opts.disable_cookie_cache;
        let raw_token = cookies.get(&self.cookies.session_token.name);
        // Step 3 for a request without the cookie at all: nothing to read.
        if raw_token.is_none() && cache_on {
            return Ok(Resolved::default());
        }
        // Step 4's read comes first: a cache value the memo remembers
        // vouches for the signed token it came with, so step 2 needs no
        // HMAC on a repeat request (same outcome: see `Entry::vouched_token`).
        let cached_value = read_chunked(&self.cookies.session_data, cookies);
        let recalled = match (use_cache, raw_token, &cached_value) {
            (true, Some(_), Some(value)) => self.cache.recall(value),
            _ => None,
        };
        // Step 2.
        let token = raw_token.and_then(|raw| {
            recalled
                .as_ref()
                .and_then(|entry| entry.vouched_token(raw))
                .or_else(|| verify_value(&self.secrets, raw))
        });
        // Step 3: with the cache on, no valid token means no session, even
        // with a valid cache cookie.
        if token.is_none() && cache_on {
            return Ok(Resolved::default());
        }
        // Step 4.
        if cached_value.is_some() && !cache_on {
            self.expire_cache_cookie(jar, cookies);
        }
        // Step 5.
        let (Some(token), Some(raw_token)) = (token, raw_token) else {
            return Ok(Resolved::default());
        };
        // Steps 6 and 7.
        if let (true, Some(value)) = (use_cache, cached_value) {
            let opened = match recalled {
                Some(entry) => SessionCache::in_window(entry, now),
                None => self.cache.decode_shared(&value, now),
            };
            match opened {
                Ok(entry) => {
                    let cached = &entry.opened.session;
                    let expected = self
                        .cache
                        .version
                        .for_session(&cached.data.session, &cached.data.user)
                        .await;
                    let usable = cached.data.session.token == token
                        && cached.version == expected
                        && cached.expires_at >= now
                        && cached.data.session.expires_at >= now;
                    // Revoked anywhere within the lag, or not known to be
                    // live: the store decides (docs/revocation.md).
                    let verdict = match self.sessions.revocations() {
                        Some(log) if usable => log.check(&cached.data.session, now).await,
                        _ => Verdict::Live,
                    };
                    if usable && verdict == Verdict::Live {
                        entry.remember_signed_token(raw_token);
                        let mut hit = CacheHit {
                            engine: self,
                            cached,
                            cookies,
                            jar,
                            now,
                            skip_refresh: opts.disable_refresh || opts.read_only,
                        };
                        // Only the plugins that have a cache-hit hook, chosen at build.
                        for hook in &self.cache_hit_hooks {
                            hook.on_cache_hit(&mut hit).await;
                        }
                        return Ok(Resolved {
                            session: Some(Arc::clone(&cached.data)),
                            needs_refresh: opts.read_only.then_some(false),
                            cache_entry: Some(entry),
                        });
                    }
                    // A cache whose revocation state is merely unknown is
                    // kept: the store may be away, and will answer 503.
                    if verdict != Verdict::Unknown {
                        self.expire_cache_cookie(jar, cookies);
                    }
                }
                Err(miss) => {
                    tracing::debug!(%miss, "cookie cache miss");
                    self.expire_cache_cookie(jar, cookies);
                }
            }
        }
        // Boxed: the store path's state stays out of every cache hit's future.
        Box::pin(self.resolve_stored(cookies, token, opts, jar, now)).await
    }

    /// spec §6.4 from step 8: the store, expiry, refresh.
    async fn resolve_stored(
        &self,
        cookies: &RequestCookies,
        token: &str,
        opts: ResolveOptions,
        jar: &mut CookieJar,
        now: Timestamp,
    ) -> Result<Resolved, ResolveError> {
        // Step 8.
        let found = self.sessions.find(token).await?;
        let found = match found {
            Some(s) if s.session.expires_at >= now => s,
            other => {
                self.delete_session_cookies(jar, cookies, false);
                if other.is_some() && !opts.read_only {
                    // Found expired: no revocation to publish.
                    if let Err(e) = self.sessions.delete_expired(token, now).await {
                        tracing::warn!(error = %e, "could not delete an expired session");
                    }
                }
                return Ok(Resolved::default());
            }
        };
        // Step 9.
        let dont_remember = self.has_dont_remember(cookies);
        if dont_remember || opts.disable_refresh {
            return Ok(Resolved::found(
                Arc::new(found),
                opts.read_only.then_some(false),
            ));
        }
        // Step 10.
        let s = &self.options.session;
        let expires_in_ms = secs_to_ms(s.expires_in);
        let update_age_ms = secs_to_ms(s.update_age);
        let needs_refresh = !s.disable_session_refresh
            && found.session.expires_at.as_millis() - expires_in_ms + update_age_ms
                <= now.as_millis();
        // Step 11.
        if opts.read_only {
            self.set_cookie_cache(jar, cookies, &found, false, now)
                .await;
            return Ok(Resolved::found(Arc::new(found), Some(needs_refresh)));
        }
        if !needs_refresh {
            // Step 13.
            self.set_cookie_cache(jar, cookies, &found, false, now)
                .await;
            return Ok(Resolved::found(Arc::new(found), None));
        }
        // Step 12.
        let update = SessionUpdate {
            expires_at: Some(now.plus_millis(expires_in_ms)),
            updated_at: Some(now),
            ..SessionUpdate::default()
        };
        let updated = self.sessions.update(token, &update, now).await?;
        let Some(session) = updated else {
            // Revoked between the read and the refresh.
            self.delete_session_cookies(jar, cookies, false);
            return Err(ResolveError::Unauthorized);
        };
        let refreshed = SessionWithUser {
            session,
            user: found.user,
        };
        self.set_session_cookie(jar, cookies, &refreshed, None, now)
            .await;
        Ok(Resolved::found(Arc::new(refreshed), None))
    }

    /// The signed `session_token` cookie: Max-Age = `expiresIn`, or a
    /// browser-session cookie when "don't remember".
    pub(crate) fn set_token_cookie(&self, jar: &mut CookieJar, token: &str, dont_remember: bool) {
        let max_age = (!dont_remember).then_some(self.options.session.expires_in);
        let def = self.cookies.session_token.with_max_age(max_age);
        jar.set(def.with_value(sign_value(&self.secrets, token)));
    }

    /// better-auth's `setSessionCookie`: the signed token, the
    /// `dont_remember` marker, and the cookie cache. `dont_remember: None`
    /// inherits it from the request.
    pub(crate) async fn set_session_cookie(
        &self,
        jar: &mut CookieJar,
        cookies: &RequestCookies,
        session: &SessionWithUser,
        dont_remember: Option<bool>,
        now: Timestamp,
    ) {
        let had_marker = self.has_dont_remember(cookies);
        let dont_remember = dont_remember.unwrap_or(had_marker);
        self.set_token_cookie(jar, &session.session.token, dont_remember);
        if dont_remember {
            jar.set(
                self.cookies
                    .dont_remember
                    .with_value(sign_value(&self.secrets, "true")),
            );
        } else if had_marker {
            jar.expire(&self.cookies.dont_remember);
        }
        self.set_cookie_cache(jar, cookies, session, dont_remember, now)
            .await;
    }

    /// better-auth's `setCookieCache` (spec §2.2): a no-op unless the cache
    /// is on; chunked when large, stale chunks expired; not written when it
    /// would take more than [`RequestLimits::session_cache_bytes`] (a
    /// difference: better-auth writes up to 100 chunks).
    ///
    /// [`RequestLimits::session_cache_bytes`]: crate::options::RequestLimits::session_cache_bytes
    pub(crate) async fn set_cookie_cache(
        &self,
        jar: &mut CookieJar,
        cookies: &RequestCookies,
        session: &SessionWithUser,
        dont_remember: bool,
        now: Timestamp,
    ) {
        if !self.cache.enabled {
            return;
        }
        let max_age = (!dont_remember).then_some(self.cache.max_age);
        let version = self
            .cache
            .version
            .for_session(&session.session, &session.user)
            .await;
        let value = self
            .cache
            .encode(&session.session, &session.user, &version, now, max_age);
        let def = self.cookies.session_data.with_max_age(max_age);
        // Never a cache the request limits would refuse to take back.
        let budget = self.options.limits.session_cache_bytes();
        jar.set_chunked_within(&def, &value, cookies, budget);
    }

    /// better-auth's `deleteSessionCookie`: expires the token, the cache
    /// (and its chunks), `dont_remember`, and in stateless mode the account
    /// and OAuth-state cookies.
    pub(crate) fn delete_session_cookies(
        &self,
        jar: &mut CookieJar,
        cookies: &RequestCookies,
        skip_dont_remember: bool,
    ) {
        let c = &self.cookies;
        jar.expire(&c.session_token);
        jar.expire(&c.session_data);
        // spec §4.1 "Sign-out": both on by default in stateless mode.
        if self.expire_account_data {
            jar.expire(&c.account_data);
            jar.expire_request_chunks_only(&c.account_data, cookies);
        }
        if self.expire_oauth_state {
            jar.expire(&c.oauth_state);
        }
        jar.expire_request_chunks_only(&c.session_data, cookies);
        if !skip_dont_remember {
            jar.expire(&c.dont_remember);
        }
    }
}

fn secs_to_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}
