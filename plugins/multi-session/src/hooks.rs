//! The two hooks (spec §9): remember every new session in a device
//! cookie, and sign every device account out on `/sign-out`.

use async_trait::async_trait;
use tessera::cookie::SetCookie;
use tessera::plugin::AfterHook;
use tessera::{ApiError, Ctx, Reply, SessionWithUser};

use crate::device;

/// After any endpoint that set a session, once every other hook has run
/// (a `Finally` hook): adds its device cookie, replacing the device cookies
/// of earlier sessions of the same user, unless the device already holds
/// `maximum_sessions` accounts.
pub(crate) struct RememberNewSession {
    pub(crate) maximum_sessions: usize,
}

#[async_trait]
impl AfterHook for RememberNewSession {
    async fn after(&self, ctx: &mut Ctx<'_>, result: &mut Result<Reply, ApiError>) {
        // A redirect signs in too: the OAuth callback answers 302 with
        // the session cookie (better-auth remembers it as well).
        if !result
            .as_ref()
            .is_ok_and(|r| r.status.is_success() || r.status.is_redirection())
        {
            return;
        }
        let Some(new) = signed_in(ctx) else {
            return;
        };
        if let Err(e) = self.remember(ctx, &new).await {
            *result = Err(e);
        }
    }
}

/// The new session, if the response really signs it in: its live
/// `session_token` cookie carries that session's token.
///
/// better-auth checks only that the response sets some cookie: a hook
/// that withholds the session (a second factor expires the session
/// cookie and answers `twoFactorRedirect`) or fails the request would
/// still get a device cookie, a credential for the withheld session
/// (GHSA-xg6x-h9c9-2m83).
fn signed_in(ctx: &Ctx<'_>) -> Option<SessionWithUser> {
    let new = ctx.new_session()?;
    let token_cookie = &ctx.auth_cookies().session_token.name;
    // The last Set-Cookie of a name is the one the browser keeps.
    let set = ctx.jar.iter().filter(|c| &c.name == token_cookie).last()?;
    let sets_it = !set.is_expiry() && ctx.verify_signed(&set.value) == Some(&new.session.token);
    sets_it.then(|| new.clone())
}

impl RememberNewSession {
    async fn remember(&self, ctx: &mut Ctx<'_>, new: &SessionWithUser) -> Result<(), ApiError> {
        let token_cookie = ctx.auth_cookies().session_token.clone();
        let name = device::name_for(ctx, &new.session.token);
        // Step 1: already remembered, in the response or on the device.
        let on_device = ctx
            .cookies()
            .strict()
            .any(|(n, v)| n == name && !v.is_empty());
        if ctx.jar.contains(&name) || on_device {
            return Ok(());
        }
        // Step 2: earlier sessions of the same user on this device.
        let verified = device::verified_cookies(ctx, self.maximum_sessions);
        let mut replaced: Vec<String> = Vec::new();
        for (cookie_name, token) in &verified {
            let owner = ctx.sessions().find(token).await?;
            if owner.is_some_and(|o| o.user.id == new.user.id) {
                let def = device::def(ctx, cookie_name.clone());
                ctx.jar.expire(&def);
                replaced.push(token.clone());
            }
        }
        let now = ctx.now();
        for token in &replaced {
            ctx.sessions().delete(token, now).await?;
        }
        // Step 3: the device's accounts, plus the one this response signs
        // in. better-auth counts every `_multi-` cookie, forged ones too;
        // only the device's verified accounts count here, so forged cookies
        // cannot keep a device from adding accounts.
        let accounts = verified.len() - replaced.len() + 1;
        if accounts > self.maximum_sessions {
            return Ok(());
        }
        // Step 4.
        let signed = ctx.sign(&new.session.token);
        ctx.jar
            .set(SetCookie::new(name, signed, token_cookie.attributes));
        Ok(())
    }
}

/// After `/sign-out`: expires every verified device cookie and deletes
/// those sessions, so sign-out ends every account on the device.
pub(crate) struct SignOutDevice {
    pub(crate) maximum_sessions: usize,
}

#[async_trait]
impl AfterHook for SignOutDevice {
    async fn after(&self, ctx: &mut Ctx<'_>, result: &mut Result<Reply, ApiError>) {
        if let Err(e) = sign_out_device(ctx, self.maximum_sessions).await {
            *result = Err(e);
        }
    }
}

async fn sign_out_device(ctx: &mut Ctx<'_>, maximum_sessions: usize) -> Result<(), ApiError> {
    if !ctx.cookies().header_present() {
        return Ok(());
    }
    let verified = device::verified_cookies(ctx, maximum_sessions);
    for (name, _) in &verified {
        let def = device::def(ctx, device::sign_out_name(name));
        ctx.jar.expire(&def);
    }
    let now = ctx.now();
    for (_, token) in &verified {
        ctx.sessions().delete(token, now).await?;
    }
    Ok(())
}
