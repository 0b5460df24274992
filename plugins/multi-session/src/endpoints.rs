//! `/multi-session/*`: list the device's accounts, switch to one, revoke
//! one (spec §9 "Endpoints").

use async_trait::async_trait;
use serde_json::json;
use tessera::api::Validator;
use tessera::{ApiError, Ctx, Endpoint, Reply, ResolveOptions, SessionWithUser};

use crate::device;
use crate::INVALID_SESSION_TOKEN;

/// `GET /multi-session/list-device-sessions`: one live session per user
/// among the device cookies, first wins. No session required.
pub(crate) struct ListDeviceSessions {
    pub(crate) maximum_sessions: usize,
}

#[async_trait]
impl Endpoint for ListDeviceSessions {
    async fn call(&self, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
        let tokens = device::verified_tokens(ctx, self.maximum_sessions);
        if tokens.is_empty() {
            return Ok(Reply::json(&json!([])));
        }
        let now = ctx.now();
        let found = ctx.sessions().find_many(&tokens).await?;
        let mut unique: Vec<SessionWithUser> = Vec::with_capacity(found.len());
        for s in found {
            if s.session.expires_at > now && !unique.iter().any(|u| u.user.id == s.user.id) {
                unique.push(s);
            }
        }
        Ok(Reply::json(&unique))
    }
}

/// The `sessionToken` of a set-active or revoke body.
fn session_token(ctx: &Ctx<'_>) -> Result<String, ApiError> {
    let mut v = Validator::object(ctx.body())?;
    let token = v.string("sessionToken");
    v.finish()?;
    Ok(token)
}

/// `POST /multi-session/set-active`: makes a device session the active
/// one. No session required (despite better-auth's docs).
pub(crate) struct SetActive;

#[async_trait]
impl Endpoint for SetActive {
    async fn call(&self, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
        let requested = session_token(ctx)?;
        let name = device::name_for(ctx, &requested);
        let token =
            device::verified_token(ctx, &name).ok_or_else(|| INVALID_SESSION_TOKEN.error())?;
        let found = ctx.sessions().find(&token).await?;
        // better-auth rejects `expiresAt < now`: a session expiring this
        // very millisecond may still be switched to.
        let now = ctx.now();
        let Some(session) = found.filter(|s| s.session.expires_at >= now) else {
            let def = device::def(ctx, name);
            ctx.jar.expire(&def);
            return Err(INVALID_SESSION_TOKEN.error());
        };
        ctx.set_session_cookie(&session, None).await;
        Ok(Reply::json(&session))
    }
}

/// `POST /multi-session/revoke`: ends a device session; when it was the
/// active one, the first remaining device session takes over (or the
/// session cookies are deleted). Requires a session.
pub(crate) struct Revoke {
    pub(crate) maximum_sessions: usize,
}

#[async_trait]
impl Endpoint for Revoke {
    async fn call(&self, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
        // Body first, then the session: better-call validates before it
        // runs the endpoint's `sessionMiddleware`.
        let requested = session_token(ctx)?;
        let current = ctx.require_session(ResolveOptions::default()).await?;
        let name = device::name_for(ctx, &requested);
        let token =
            device::verified_token(ctx, &name).ok_or_else(|| INVALID_SESSION_TOKEN.error())?;
        let now = ctx.now();
        ctx.sessions().delete(&token, now).await?;
        let def = device::def(ctx, name);
        ctx.jar.expire(&def);
        if current.session.token != token {
            return Ok(status_true());
        }
        let remaining = device::verified_tokens(ctx, self.maximum_sessions);
        let next = if remaining.is_empty() {
            None
        } else {
            ctx.sessions()
                .find_many(&remaining)
                .await?
                .into_iter()
                .find(|s| s.session.expires_at > now)
        };
        match next {
            Some(next) => ctx.set_session_cookie(&next, None).await,
            None => ctx.delete_session_cookies(),
        }
        Ok(status_true())
    }
}

fn status_true() -> Reply {
    Reply::json(&json!({ "status": true }))
}
