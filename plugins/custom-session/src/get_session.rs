//! The replacement `/get-session` (spec §8 "What it changes", §6.4).

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::Serialize;
use serde_json::Value;
use tessera::{ApiError, Ctx, Endpoint, Reply};

use crate::shaper::{RequestInfo, SessionShaper};

/// The path this plugin replaces.
pub(crate) const PATH: &str = "/get-session";

/// `GET` and `POST /get-session`: the core resolution, then the user's
/// function in place of the `{session, user}` body.
pub(crate) struct GetSession<S> {
    pub(crate) shaper: Arc<S>,
}

#[async_trait]
impl<S: SessionShaper> Endpoint for GetSession<S> {
    async fn call(&self, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
        // spec §6.4 step 1: as core, POST is a refresh only with
        // deferSessionRefresh (better-auth's customSession routes GET only,
        // so its POST answers 404).
        let opts = match ctx.get_session_options() {
            Ok(opts) => opts,
            Err(reply) => return Ok(*reply),
        };
        // The cookie work (refresh, cache rewrite, deletion) goes into this
        // response's jar whatever the function does next.
        let (found, needs_refresh) = ctx.get_session(opts).await?;
        let Some(session) = found else {
            return Ok(Reply::json(&Value::Null).no_store());
        };
        let req = RequestInfo::new(ctx.headers(), ctx.now()).with_path(ctx.path());
        let shaped = self
            .shaper
            .shape(Arc::unwrap_or_clone(session), &req)
            .await?;
        let body = match needs_refresh {
            Some(flag) => with_needs_refresh(&shaped, flag)?,
            None => to_json(&shaped)?,
        };
        Ok(Reply {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body,
        }
        .no_store())
    }
}

/// The body with `"needsRefresh"` appended when it is a JSON object that
/// does not already carry one (a deferred read, spec §6.1); any other body
/// is left as the function made it.
fn with_needs_refresh<T: Serialize>(shaped: &T, needs_refresh: bool) -> Result<Bytes, ApiError> {
    let mut value = serde_json::to_value(shaped).map_err(serialize_failed)?;
    if let Value::Object(map) = &mut value {
        map.entry("needsRefresh")
            .or_insert(Value::Bool(needs_refresh));
    }
    to_json(&value)
}

/// The function's output as JSON. A failure is a 500, never `null` (which
/// would read as signed out).
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, ApiError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(serialize_failed)
}

fn serialize_failed(e: serde_json::Error) -> ApiError {
    ApiError::internal(
        "FAILED_TO_GET_SESSION",
        "Failed to get session",
        &e as &dyn std::error::Error,
    )
}
