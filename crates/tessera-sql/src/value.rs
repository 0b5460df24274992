//! How records become SQL values and back: dates as better-auth stores them
//! on each dialect, and rows decoded by column position.

use serde_json::Map;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgRow, PgTypeInfo, PgValueRef, Postgres};
use sqlx::sqlite::{Sqlite, SqliteArgumentValue, SqliteRow, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Row, Type, TypeInfo, ValueRef};
use tessera::store::{Account, Session, User, Verification};
use tessera::Timestamp;
use time::{OffsetDateTime, PrimitiveDateTime};

/// A date column. PostgreSQL: `timestamptz` (better-auth's type; plain
/// `timestamp` is read as UTC too). SQLite: text in JavaScript's
/// `toISOString()` form, `2026-12-05T07:57:54.369Z`, which is what
/// better-auth's Kysely adapter writes there (`supportsDates: false`);
/// integer milliseconds are read too. Both keep millisecond precision,
/// and the SQLite text sorts in time order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Date(pub(crate) Timestamp);

impl Date {
    fn to_offset_date_time(self) -> Result<OffsetDateTime, BoxDynError> {
        let nanos = i128::from(self.0.as_millis()) * 1_000_000;
        Ok(OffsetDateTime::from_unix_timestamp_nanos(nanos)?)
    }

    fn from_offset_date_time(t: OffsetDateTime) -> Result<Self, BoxDynError> {
        let ms = t.unix_timestamp_nanos().div_euclid(1_000_000);
        Ok(Date(Timestamp::from_millis(i64::try_from(ms)?)))
    }
}

/// `Some(Date)` for an optional date column.
pub(crate) fn date(t: Option<Timestamp>) -> Option<Date> {
    t.map(Date)
}

impl Type<Postgres> for Date {
    fn type_info() -> PgTypeInfo {
        <OffsetDateTime as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <OffsetDateTime as Type<Postgres>>::compatible(ty)
            || <PrimitiveDateTime as Type<Postgres>>::compatible(ty)
    }
}

impl Encode<'_, Postgres> for Date {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <OffsetDateTime as Encode<Postgres>>::encode(self.to_offset_date_time()?, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Date {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        // Both `timestamp` and `timestamptz` arrive as UTC wall time.
        let t = <PrimitiveDateTime as Decode<Postgres>>::decode(value)?;
        Date::from_offset_date_time(t.assume_utc())
    }
}

impl Type<Sqlite> for Date {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }

    fn compatible(_: &SqliteTypeInfo) -> bool {
        // SQLite types values, not columns: decode() checks what it got.
        true
    }
}

impl<'q> Encode<'q, Sqlite> for Date {
    fn encode_by_ref(
        &self,
        args: &mut Vec<SqliteArgumentValue<'q>>,
    ) -> Result<IsNull, BoxDynError> {
        <String as Encode<Sqlite>>::encode(self.0.to_iso(), args)
    }
}

impl<'r> Decode<'r, Sqlite> for Date {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        if value.type_info().name() == "INTEGER" {
            let ms = <i64 as Decode<Sqlite>>::decode(value)?;
            return Ok(Date(Timestamp::from_millis(ms)));
        }
        let text = <&str as Decode<Sqlite>>::decode(value)?;
        Timestamp::parse_iso(text)
            .map(Date)
            .ok_or_else(|| format!("not an ISO-8601 date: {text:?}").into())
    }
}

/// Reads a row's columns by position, the same way on both dialects.
pub(crate) trait ReadColumns {
    fn text(&self, i: usize) -> Result<String, sqlx::Error>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, sqlx::Error>;
    fn flag(&self, i: usize) -> Result<bool, sqlx::Error>;
    fn date(&self, i: usize) -> Result<Timestamp, sqlx::Error>;
    fn opt_date(&self, i: usize) -> Result<Option<Timestamp>, sqlx::Error>;
}

macro_rules! read_columns {
    ($row:ty) => {
        impl ReadColumns for $row {
            fn text(&self, i: usize) -> Result<String, sqlx::Error> {
                self.try_get(i)
            }
            fn opt_text(&self, i: usize) -> Result<Option<String>, sqlx::Error> {
                self.try_get(i)
            }
            fn flag(&self, i: usize) -> Result<bool, sqlx::Error> {
                self.try_get(i)
            }
            fn date(&self, i: usize) -> Result<Timestamp, sqlx::Error> {
                self.try_get::<Date, _>(i).map(|d| d.0)
            }
            fn opt_date(&self, i: usize) -> Result<Option<Timestamp>, sqlx::Error> {
                self.try_get::<Option<Date>, _>(i).map(|d| d.map(|d| d.0))
            }
        }
    };
}

read_columns!(SqliteRow);
read_columns!(PgRow);

// Decoders for the column lists of `schema`, starting at column `at`.

pub(crate) fn user(row: &impl ReadColumns, at: usize) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.text(at)?,
        name: row.text(at + 1)?,
        email: row.text(at + 2)?,
        email_verified: row.flag(at + 3)?,
        image: row.opt_text(at + 4)?,
        created_at: row.date(at + 5)?,
        updated_at: row.date(at + 6)?,
        extra: Map::new(),
    })
}

pub(crate) fn session(row: &impl ReadColumns, at: usize) -> Result<Session, sqlx::Error> {
    Ok(Session {
        id: row.text(at)?,
        expires_at: row.date(at + 1)?,
        token: row.text(at + 2)?,
        created_at: row.date(at + 3)?,
        updated_at: row.date(at + 4)?,
        ip_address: row.opt_text(at + 5)?,
        user_agent: row.opt_text(at + 6)?,
        user_id: row.text(at + 7)?,
        extra: Map::new(),
    })
}

pub(crate) fn account(row: &impl ReadColumns, at: usize) -> Result<Account, sqlx::Error> {
    Ok(Account {
        id: row.text(at)?,
        account_id: row.text(at + 1)?,
        provider_id: row.text(at + 2)?,
        user_id: row.text(at + 3)?,
        access_token: row.opt_text(at + 4)?,
        refresh_token: row.opt_text(at + 5)?,
        id_token: row.opt_text(at + 6)?,
        access_token_expires_at: row.opt_date(at + 7)?,
        refresh_token_expires_at: row.opt_date(at + 8)?,
        scope: row.opt_text(at + 9)?,
        password: row.opt_text(at + 10)?,
        created_at: row.date(at + 11)?,
        updated_at: row.date(at + 12)?,
    })
}

/// An account from a `LEFT JOIN`: `None` when its id column is NULL.
pub(crate) fn joined_account(
    row: &impl ReadColumns,
    at: usize,
) -> Result<Option<Account>, sqlx::Error> {
    match row.opt_text(at)? {
        None => Ok(None),
        Some(_) => account(row, at).map(Some),
    }
}

pub(crate) fn verification(row: &impl ReadColumns, at: usize) -> Result<Verification, sqlx::Error> {
    Ok(Verification {
        id: row.text(at)?,
        identifier: row.text(at + 1)?,
        value: row.text(at + 2)?,
        expires_at: row.date(at + 3)?,
        created_at: row.date(at + 4)?,
        updated_at: row.date(at + 5)?,
    })
}
