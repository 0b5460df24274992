//! `shouldMutateListDeviceSessionsEndpoint` (spec §8 "With the
//! multi-session plugin"): the multi-session device list, each element
//! shaped by the user's function.

use std::sync::Arc;

use async_trait::async_trait;
use http::StatusCode;
use tessera::plugin::AfterHook;
use tessera::{ApiError, Ctx, Reply, SessionWithUser};

use crate::get_session::to_json;
use crate::shaper::{RequestInfo, SessionShaper};

/// The multi-session plugin's device list.
pub const LIST_DEVICE_SESSIONS_PATH: &str = "/multi-session/list-device-sessions";

/// Maps each `{session, user}` of a successful `[…]` body through the
/// function, in order.
pub(crate) struct ShapeDeviceSessions<S> {
    pub(crate) shaper: Arc<S>,
}

#[async_trait]
impl<S: SessionShaper> AfterHook for ShapeDeviceSessions<S> {
    async fn after(&self, ctx: &mut Ctx<'_>, result: &mut Result<Reply, ApiError>) {
        // better-auth's getEndpointResponse: errors, non-200 replies and a
        // `null` body pass through untouched.
        let Ok(reply) = result else {
            return;
        };
        if reply.status != StatusCode::OK {
            return;
        }
        let list: Option<Vec<SessionWithUser>> = match serde_json::from_slice(&reply.body) {
            Ok(list) => list,
            Err(e) => {
                // Fail closed: passing the list on unshaped could show what
                // the function is there to hide.
                *result = Err(ApiError::internal(
                    "INTERNAL_SERVER_ERROR",
                    "Internal Server Error",
                    &e as &dyn std::error::Error,
                ));
                return;
            }
        };
        let Some(list) = list else {
            return;
        };
        let req = RequestInfo::new(ctx.headers(), ctx.now()).with_path(ctx.path());
        let mut shaped = Vec::with_capacity(list.len());
        for session in list {
            match self.shaper.shape(session, &req).await {
                Ok(v) => shaped.push(v),
                Err(e) => {
                    *result = Err(e);
                    return;
                }
            }
        }
        match to_json(&shaped) {
            Ok(body) => reply.body = body,
            Err(e) => *result = Err(e),
        }
    }
}
