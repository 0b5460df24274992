//! The two after hooks (spec §9): remember every new session in a device
//! cookie, and sign every device account out on `/sign-out`.

use async_trait::async_trait;
use tessera::cookie::SetCookie;
use tessera::plugin::AfterHook;
use tessera::{ApiError, Ctx, Reply};

use crate::device;

/// After any endpoint that set a session: adds its device cookie, replacing
/// the device cookies of earlier sessions of the same user, unless the
/// device already holds `maximum_sessions` accounts.
pub(crate) struct RememberNewSession {
    pub(crate) maximum_sessions: usize,
}

#[async_trait]
impl AfterHook for RememberNewSession {
    async fn after(&self, ctx: &mut Ctx<'_>, result: &mut Result<Reply, ApiError>) {
        if let Err(e) = self.remember(ctx).await {
            *result = Err(e);
        }
    }
}

impl RememberNewSession {
    async fn remember(&self, ctx: &mut Ctx<'_>) -> Result<(), ApiError> {
        if ctx.jar.is_empty() {
            return Ok(());
        }
        let Some(new) = ctx.new_session().cloned() else {
            return Ok(());
        };
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
        // Read before this hook adds expiring device cookies, whose names
        // contain the session_token name too (better-auth tests the raw
        // Set-Cookie string with `includes`).
        let sets_token = ctx.jar.iter().any(|c| c.name.contains(&token_cookie.name));
        // Step 2: earlier sessions of the same user on this device.
        let verified = device::verified_cookies(ctx);
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
        // Step 3. better-auth counts every `_multi-` cookie, forged ones
        // too; only verified ones count here, so a forged cookie cannot
        // keep a device from adding accounts.
        let accounts = verified.len() - replaced.len() + usize::from(sets_token);
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
pub(crate) struct SignOutDevice;

#[async_trait]
impl AfterHook for SignOutDevice {
    async fn after(&self, ctx: &mut Ctx<'_>, result: &mut Result<Reply, ApiError>) {
        if let Err(e) = sign_out_device(ctx).await {
            *result = Err(e);
        }
    }
}

async fn sign_out_device(ctx: &mut Ctx<'_>) -> Result<(), ApiError> {
    if !ctx.cookies().header_present() {
        return Ok(());
    }
    let verified = device::verified_cookies(ctx);
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
