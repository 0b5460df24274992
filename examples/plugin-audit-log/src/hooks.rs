//! The hooks that record events, as closures.

use tessera::plugin::{BoxFuture, EndpointResult};
use tessera::{Ctx, ResolveOptions};

use crate::log::{AuditEvent, EventKind, EventLog};

/// After `/sign-up/email` or `/sign-in/email`: records the session the
/// endpoint created, if it succeeded and created one. Nothing to await, so
/// the work happens before the (empty) future.
pub(crate) fn record_sign_in(
    log: EventLog,
    kind: EventKind,
) -> impl for<'a, 'c> Fn(&'a mut Ctx<'c>, &'a mut EndpointResult) -> BoxFuture<'a, ()> + Send + Sync
{
    move |ctx, result| {
        // `new_session` is set by the endpoint that signed the user in.
        if let (Ok(_), Some(session)) = (&*result, ctx.new_session()) {
            log.record(event(ctx, kind, session.user.id.clone()));
        }
        Box::pin(async {})
    }
}

/// Before `/sign-out`: resolves the session while it still exists. The
/// context keeps the resolution for the rest of the request, which is how
/// [`record_sign_out`] learns whose session ended.
pub(crate) fn resolve_before_sign_out<'a>(
    ctx: &'a mut Ctx<'_>,
) -> BoxFuture<'a, EndpointResult<Option<tessera::Reply>>> {
    Box::pin(async move {
        // No refresh: the session is about to be deleted. A failure to read
        // it must not prevent the sign-out, so it only costs the event.
        let _ = ctx
            .session(ResolveOptions::default().without_refresh())
            .await;
        Ok(None)
    })
}

/// After `/sign-out`: records the session [`resolve_before_sign_out`] found.
pub(crate) fn record_sign_out(
    log: EventLog,
) -> impl for<'a, 'c> Fn(&'a mut Ctx<'c>, &'a mut EndpointResult) -> BoxFuture<'a, ()> + Send + Sync
{
    move |ctx, result| {
        let log = log.clone();
        let succeeded = result.is_ok();
        Box::pin(async move {
            if !succeeded {
                return;
            }
            // Answered from the resolution the before hook made; the store
            // is not read again (the session is gone from it by now).
            if let Ok(Some(s)) = ctx.session(ResolveOptions::default()).await {
                let user_id = s.user.id.clone();
                log.record(event(ctx, EventKind::SignOut, user_id));
            }
        })
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
