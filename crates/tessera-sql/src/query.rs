//! Every statement `SqlDatabase` sends: one per `Database` call (two
//! inserts in one transaction for `create_user_with_account`; on the
//! revocation log, the removal of expired entries before an append, and a
//! second read when a reader asks again for numbers it found missing).
//!
//! Placeholders are `$n` on both dialects (SQLite reads `$n` as the n-th
//! argument). Identifiers are quoted: the columns are camelCase and `user`
//! is a reserved word in PostgreSQL.

/// `"a", "b", …`, each column prefixed with a table alias such as `u.`.
macro_rules! quoted {
    ($alias:literal; $first:literal $(, $rest:literal)*) => {
        concat!($alias, "\"", $first, "\"" $(, ", ", $alias, "\"", $rest, "\"")*)
    };
}

// Column lists in table order: `value::{user, session, account,
// verification}` decode rows in this order.

macro_rules! user_columns {
    ($alias:literal) => {
        quoted!($alias; "id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt")
    };
}

macro_rules! session_columns {
    ($alias:literal) => {
        quoted!($alias; "id", "expiresAt", "token", "createdAt", "updatedAt", "ipAddress",
            "userAgent", "userId")
    };
}

macro_rules! account_columns {
    ($alias:literal) => {
        quoted!($alias; "id", "accountId", "providerId", "userId", "accessToken",
            "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", "scope",
            "password", "createdAt", "updatedAt")
    };
}

macro_rules! verification_columns {
    ($alias:literal) => {
        quoted!($alias; "id", "identifier", "value", "expiresAt", "createdAt", "updatedAt")
    };
}

/// Columns in a user row, the offset of what follows it in a joined row.
pub(crate) const USER_WIDTH: usize = 7;
/// Columns in a session row.
pub(crate) const SESSION_WIDTH: usize = 8;

pub(crate) const INSERT_USER: &str = concat!(
    r#"insert into "user" ("#,
    user_columns!(""),
    ") values ($1, $2, $3, $4, $5, $6, $7)"
);
pub(crate) const USER_BY_ID: &str = concat!(
    "select ",
    user_columns!(""),
    r#" from "user" where "id" = $1"#
);
pub(crate) const USER_BY_EMAIL: &str = concat!(
    "select ",
    user_columns!(""),
    r#" from "user" where "email" = $1"#
);
/// The user and their credential account, if any: one join.
pub(crate) const USER_WITH_CREDENTIAL: &str = concat!(
    "select ",
    user_columns!("u."),
    ", ",
    account_columns!("a."),
    r#" from "user" u left join "account" a on a."userId" = u."id" and a."providerId" = $2"#,
    r#" where u."email" = $1 order by a."createdAt" limit 1"#
);
pub(crate) const UPDATE_USER: &str = concat!(
    r#"update "user" set "name" = $2, "email" = $3, "emailVerified" = $4, "image" = $5,"#,
    r#" "createdAt" = $6, "updatedAt" = $7 where "id" = $1"#
);
/// Accounts and sessions go with it (`on delete cascade`).
pub(crate) const DELETE_USER: &str = r#"delete from "user" where "id" = $1"#;

pub(crate) const INSERT_ACCOUNT: &str = concat!(
    r#"insert into "account" ("#,
    account_columns!(""),
    ") values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
);
pub(crate) const ACCOUNTS_OF_USER: &str = concat!(
    "select ",
    account_columns!(""),
    r#" from "account" where "userId" = $1 order by "createdAt", "id""#
);
pub(crate) const ACCOUNT_BY_PROVIDER: &str = concat!(
    "select ",
    account_columns!(""),
    r#" from "account" where "providerId" = $1 and "accountId" = $2 order by "createdAt", "id" limit 1"#
);
pub(crate) const UPDATE_ACCOUNT: &str = concat!(
    r#"update "account" set "accountId" = $2, "providerId" = $3, "userId" = $4,"#,
    r#" "accessToken" = $5, "refreshToken" = $6, "idToken" = $7, "accessTokenExpiresAt" = $8,"#,
    r#" "refreshTokenExpiresAt" = $9, "scope" = $10, "password" = $11, "createdAt" = $12,"#,
    r#" "updatedAt" = $13 where "id" = $1"#
);
pub(crate) const DELETE_ACCOUNT: &str = r#"delete from "account" where "id" = $1"#;

pub(crate) const INSERT_SESSION: &str = concat!(
    r#"insert into "session" ("#,
    session_columns!(""),
    ") values ($1, $2, $3, $4, $5, $6, $7, $8)"
);
/// The session and its user: one join (the cache-miss path of every
/// authenticated request).
pub(crate) const SESSION_WITH_USER: &str = concat!(
    "select ",
    session_columns!("s."),
    ", ",
    user_columns!("u."),
    r#" from "session" s join "user" u on u."id" = s."userId" where s."token" = $1"#
);
/// Sessions with users for a list of tokens, in the list's order; `$1` is a
/// `text[]`.
pub(crate) const SESSIONS_WITH_USERS_POSTGRES: &str = concat!(
    "select ",
    session_columns!("s."),
    ", ",
    user_columns!("u."),
    r#" from unnest($1::text[]) with ordinality as t("token", "n")"#,
    r#" join "session" s on s."token" = t."token" join "user" u on u."id" = s."userId""#,
    r#" order by t."n""#
);
/// The same on SQLite, which has no arrays: `$1` is a JSON array of tokens.
pub(crate) const SESSIONS_WITH_USERS_SQLITE: &str = concat!(
    "select ",
    session_columns!("s."),
    ", ",
    user_columns!("u."),
    r#" from json_each($1) t"#,
    r#" join "session" s on s."token" = t."value" join "user" u on u."id" = s."userId""#,
    r#" order by t."key""#
);
pub(crate) const SESSIONS_OF_USER: &str = concat!(
    "select ",
    session_columns!(""),
    r#" from "session" where "userId" = $1 order by "createdAt", "id""#
);
/// `NULL` leaves a field as it is (`SessionUpdate`'s `None`).
pub(crate) const UPDATE_SESSION: &str = concat!(
    r#"update "session" set "expiresAt" = coalesce($2, "expiresAt"),"#,
    r#" "updatedAt" = coalesce($3, "updatedAt") where "token" = $1 returning "#,
    session_columns!("")
);
pub(crate) const DELETE_SESSION: &str = r#"delete from "session" where "token" = $1"#;
pub(crate) const DELETE_USER_SESSIONS: &str = r#"delete from "session" where "userId" = $1"#;

pub(crate) const INSERT_VERIFICATION: &str = concat!(
    r#"insert into "verification" ("#,
    verification_columns!(""),
    ") values ($1, $2, $3, $4, $5, $6)"
);
pub(crate) const NEWEST_VERIFICATION: &str = concat!(
    "select ",
    verification_columns!(""),
    r#" from "verification" where "identifier" = $1 order by "createdAt" desc limit 1"#
);
pub(crate) const DELETE_VERIFICATION: &str =
    r#"delete from "verification" where "identifier" = $1"#;
/// Deletes an identifier's values and returns them: the statement is the
/// atomic step, so of two concurrent consumers only one gets the rows.
pub(crate) const CONSUME_VERIFICATION: &str = concat!(
    r#"delete from "verification" where "identifier" = $1 returning "#,
    verification_columns!("")
);

// The revocation log (`tessera_revocation`, Tessera's own table): `seq`
// numbers entries, `expiresAt` is epoch milliseconds.

/// Removes the entries whose time (`$1`, ms) has passed: an index range
/// scan on `expiresAt`, empty when nothing expired.
pub(crate) const DELETE_EXPIRED_REVOCATIONS: &str =
    r#"delete from "tessera_revocation" where "expiresAt" < $1"#;
/// Appends an entry (`$1`) kept until `$2` (ms); returns its number.
pub(crate) const INSERT_REVOCATION: &str =
    r#"insert into "tessera_revocation" ("entry", "expiresAt") values ($1, $2) returning "seq""#;
/// The entries numbered past `$1`, ascending, at most `$2` of them.
pub(crate) const REVOCATIONS_AFTER: &str =
    r#"select "seq", "entry" from "tessera_revocation" where "seq" > $1 order by "seq" limit $2"#;
/// The entries numbered in `$1`, a `bigint[]`, ascending.
pub(crate) const REVOCATIONS_NUMBERED_POSTGRES: &str = r#"select "seq", "entry" from "tessera_revocation" where "seq" = any($1::bigint[]) order by "seq""#;
/// The same on SQLite, which has no arrays: `$1` is a JSON array of numbers.
pub(crate) const REVOCATIONS_NUMBERED_SQLITE: &str = r#"select "seq", "entry" from "tessera_revocation" where "seq" in (select "value" from json_each($1)) order by "seq""#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_lists_are_quoted_and_aliased() {
        assert_eq!(
            USER_BY_ID,
            r#"select "id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt" from "user" where "id" = $1"#
        );
        assert!(SESSION_WITH_USER.starts_with(r#"select s."id", s."expiresAt", "#));
        assert!(SESSION_WITH_USER.contains(r#", u."id", u."name""#));
    }
}
