//! The hooks that record events.

use async_trait::async_trait;
use tessera::plugin::{AfterHook, BeforeHook};
use tessera::{ApiError, Ctx, Reply, ResolveOptions};

use crate::log::{AuditEvent, EventKind, EventLog};

/// After `/sign-up/email` or `/sign-in/email`: records the session the
/// endpoint created, if it succeeded and created one.
pub(crate) struct RecordSignIn {
    pub(crate) log: EventLog,
    pub(crate) kind: EventKind,
}

#[async_trait]
impl AfterHook for RecordSignIn {
    async fn after(&self, ctx: &mut Ctx<'_>, result: &mut Result<Reply, ApiError>) {
        if result.is_err() {
            return;
        }
        // `new_session` is set by the endpoint that signed the user in.
        let Some(user_id) = ctx.new_session().map(|s| s.user.id.clone()) else {
            return;
        };
        self.log.record(event(ctx, self.kind, user_id));
    }
}

/// Before `/sign-out`: resolves the session while it still exists. The
/// context keeps the resolution for the rest of the request, which is how
/// [`RecordSignOut`] learns whose session ended.
pub(crate) struct ResolveBeforeSignOut;

#[async_trait]
impl BeforeHook for ResolveBeforeSignOut {
    async fn before(&self, ctx: &mut Ctx<'_>) -> Result<Option<Reply>, ApiError> {
        // No refresh: the session is about to be deleted. A failure to read
        // it must not prevent the sign-out, so it only costs the event.
        let opts = ResolveOptions {
            disable_refresh: true,
            ..ResolveOptions::default()
        };
        let _ = ctx.session(opts).await;
        Ok(None)
    }
}

/// After `/sign-out`: records the session [`ResolveBeforeSignOut`] found.
pub(crate) struct RecordSignOut {
    pub(crate) log: EventLog,
}

#[async_trait]
impl AfterHook for RecordSignOut {
    async fn after(&self, ctx: &mut Ctx<'_>, result: &mut Result<Reply, ApiError>) {
        if result.is_err() {
            return;
        }
        // Answered from the resolution the before hook made; the store is
        // not read again (the session is gone from it by now).
        let user_id = match ctx.session(ResolveOptions::default()).await {
            Ok(Some(s)) => s.user.id.clone(),
            _ => return,
        };
        self.log.record(event(ctx, EventKind::SignOut, user_id));
    }
}

fn event(ctx: &Ctx<'_>, kind: EventKind, user_id: String) -> AuditEvent {
    let ip = ctx.session_meta().ip_address;
    AuditEvent {
        event: kind,
        user_id,
        at: ctx.now(),
        ip_address: (!ip.is_empty()).then_some(ip),
    }
}
