//! Verification records (better-auth's `createVerificationValue` and
//! friends): in secondary storage when there is one
//! (`verification:<identifier>`, for the record's lifetime), so that any
//! instance can finish a flow; in the database otherwise.

use std::time::Duration;

use crate::id::{generate_id, ID_LENGTH};
use crate::plugin::Ctx;
use crate::store::{StoreError, Verification};
use crate::Timestamp;

/// The secondary storage key of a verification record (spec §5.2).
fn key(identifier: &str) -> String {
    format!("verification:{identifier}")
}

/// Stores `record` until its `expires_at`.
pub(crate) async fn save(ctx: &Ctx<'_>, record: &Verification) -> Result<(), StoreError> {
    match ctx.sessions().secondary_storage() {
        Some(storage) => {
            let json = serde_json::to_string(record).map_err(StoreError::backend)?;
            let ms = record.expires_at.as_millis() - ctx.now().as_millis();
            // better-auth stores nothing when the record is already past.
            if ms <= 0 {
                return Ok(());
            }
            let ttl = Duration::from_millis(ms.unsigned_abs());
            storage
                .set(&key(&record.identifier), &json, Some(ttl))
                .await
        }
        None => ctx.sessions().database().create_verification(record).await,
    }
}

/// Stores a new record: `identifier` → `value` until `lifetime_ms` from
/// now (better-auth's `createVerificationValue`).
pub(crate) async fn issue(
    ctx: &Ctx<'_>,
    identifier: String,
    value: String,
    lifetime_ms: i64,
) -> Result<(), StoreError> {
    let now = ctx.now();
    let record = Verification {
        id: generate_id(ID_LENGTH),
        identifier,
        value,
        expires_at: Timestamp::from_millis(now.as_millis().saturating_add(lifetime_ms)),
        created_at: now,
        updated_at: now,
    };
    save(ctx, &record).await
}

/// Seconds as the milliseconds [`issue`] takes, saturating.
pub(crate) fn secs_to_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// A record as stored by either server: read leniently, since one
/// better-auth wrote may lack fields this one has.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    value: String,
    expires_at: Timestamp,
}

/// A record's value and expiry.
pub(crate) async fn find(
    ctx: &Ctx<'_>,
    identifier: &str,
) -> Result<Option<(String, Timestamp)>, StoreError> {
    match ctx.sessions().secondary_storage() {
        Some(storage) => Ok(storage
            .get(&key(identifier))
            .await?
            .and_then(|json| serde_json::from_str::<Stored>(&json).ok())
            .map(|r| (r.value, r.expires_at))),
        None => Ok(ctx
            .sessions()
            .database()
            .find_verification(identifier)
            .await?
            .map(|r| (r.value, r.expires_at))),
    }
}

/// Takes a one-time record: of concurrent callers, one gets it (better-auth's
/// `consumeVerificationValue`). An expired record is spent and `None`.
pub(crate) async fn consume(ctx: &Ctx<'_>, identifier: &str) -> Result<Option<String>, StoreError> {
    let found = match ctx.sessions().secondary_storage() {
        Some(storage) => storage
            .get_and_delete(&key(identifier))
            .await?
            .and_then(|json| serde_json::from_str::<Stored>(&json).ok())
            .map(|r| (r.value, r.expires_at)),
        None => ctx
            .sessions()
            .database()
            .consume_verification(identifier)
            .await?
            .map(|r| (r.value, r.expires_at)),
    };
    Ok(found
        .filter(|(_, expires_at)| *expires_at >= ctx.now())
        .map(|(value, _)| value))
}

/// Deletes a record.
pub(crate) async fn delete(ctx: &Ctx<'_>, identifier: &str) -> Result<(), StoreError> {
    match ctx.sessions().secondary_storage() {
        Some(storage) => storage.delete(&key(identifier)).await,
        None => {
            ctx.sessions()
                .database()
                .delete_verification(identifier)
                .await
        }
    }
}
