//! Lifecycle tokens crossing between better-auth 1.7.25 and Tessera: both
//! on one PostgreSQL schema (better-auth's own migrations made it), with
//! one secret. A verification link one server mails verifies on the other;
//! a reset token one server mails resets the password on the other, once,
//! because its one-time record lives in the shared `verification` table;
//! the password set on one signs in on both.
//!
//! Needs PostgreSQL (`DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`) and the reference server
//! (node + npm); without them each test skips with a banner, or fails
//! under `CI=true`.

mod lifecycle_support;

use std::str::FromStr;
use std::sync::Arc;

use lifecycle_support::*;
use serde_json::{json, Value};
use tessera::{Auth, Options};
use tessera_sql::sqlx::postgres::PgConnectOptions;
use tessera_sql::sqlx::{self, Connection, Executor, PgConnection, PgPool};
use tessera_sql::SqlDatabase;
use tessera_testkit::mail::Outbox;
use tessera_testkit::refserver::MailLog;
use tessera_testkit::service::{postgres_url, skip_or_fail, Service};
use tessera_testkit::{ClientCookies, RefServer, Target, TestRequest, TestResponse};

/// Reads the mail one of the servers sent since the last read.
type ReadMail = fn(&Shared) -> Vec<SentMail>;

/// A schema of its own on the test PostgreSQL server, dropped on drop.
struct Schema(String);

impl Schema {
    /// Creates `t_lifecycle_<random>`, or `None` after the skip banner.
    async fn create() -> Option<Schema> {
        let url = postgres_url();
        let mut conn = match PgConnection::connect(&url).await {
            Ok(conn) => conn,
            Err(e) => return skip_or_fail(Service::Postgres, &format!("{url}: {e}")),
        };
        // The refserver takes only a plain lower-case identifier.
        let name = format!(
            "t_lifecycle_{}",
            tessera::generate_id(12).to_ascii_lowercase()
        );
        conn.execute(format!(r#"create schema "{name}""#).as_str())
            .await
            .expect("create the test schema");
        let _ = conn.close().await;
        Some(Schema(name))
    }
}

impl Drop for Schema {
    /// From a thread of its own: `Drop` cannot await, and a failed test
    /// must clean up too.
    fn drop(&mut self) {
        let name = self.0.clone();
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&postgres_url()).await {
                    let _ = conn
                        .execute(format!(r#"drop schema if exists "{name}" cascade"#).as_str())
                        .await;
                    let _ = conn.close().await;
                }
            });
        });
        let _ = done.join();
    }
}

/// better-auth and Tessera on one schema, one secret, one base URL, each
/// with its mail recorded. Fields drop in order: the servers before the
/// schema.
struct Shared {
    server: RefServer,
    log: MailLog,
    outbox: Arc<Outbox>,
    ba: Target,
    ts: Target,
    pool: PgPool,
    _schema: Schema,
}

impl Shared {
    /// `None` (after the skip banner) when PostgreSQL or node is missing.
    async fn start() -> Option<Shared> {
        let schema = Schema::create().await?;
        let log = MailLog::new();
        let url = postgres_url();
        // The refserver applies better-auth's migrations before it listens.
        let env = refserver_env(
            &[
                ("MODE", "postgres"),
                ("DATABASE_URL", url.as_str()),
                ("DB_SCHEMA", schema.0.as_str()),
                ("SECRET", SECRET),
            ],
            &log,
            &[],
        );
        let server = match RefServer::start(&env) {
            Ok(Some(server)) => server,
            Ok(None) => return None,
            Err(e) => panic!("reference server: {e}"),
        };
        let options = PgConnectOptions::from_str(&url)
            .expect("a PostgreSQL URL")
            .options([("search_path", schema.0.as_str())]);
        let db = SqlDatabase::connect_postgres(options)
            .await
            .expect("PostgreSQL connects");
        // On better-auth's tables this only records Tessera's migrations.
        db.migrate().await.expect("migrations apply");
        let pool = db.postgres_pool().expect("a PostgreSQL pool").clone();
        let origin = server.base_url().to_owned();
        let outbox = Arc::new(Outbox::default());
        let options = lifecycle_options(
            Options::new()
                .secret(SECRET)
                .base_url(origin.clone())
                .trusted_origin(format!("http://localhost:{}", server.port()))
                .rate_limit(false),
            &[],
        );
        // The system clock: better-auth checks expiry against real time.
        let auth = Auth::builder(options)
            .database(Arc::new(db))
            .mailer(outbox.clone())
            .build()
            .expect("tessera builds");
        Some(Shared {
            ba: Target::http(origin.clone()),
            ts: Target::auth(auth, origin),
            server,
            log,
            outbox,
            pool,
            _schema: schema,
        })
    }

    fn origin(&self) -> &str {
        self.server.base_url()
    }

    fn targets(&self) -> [&Target; 2] {
        [&self.ba, &self.ts]
    }

    /// Mail better-auth sent since the last call.
    fn better_auth_mail(&self) -> Vec<SentMail> {
        self.log.take().into_iter().map(SentMail::from).collect()
    }

    /// Mail Tessera sent since the last call.
    fn tessera_mail(&self) -> Vec<SentMail> {
        sent(&self.outbox)
    }

    /// `POST /api/auth<path>` on `target` with the cookies of `jar`,
    /// keeping what it sets.
    async fn post(
        &self,
        target: &Target,
        jar: &mut ClientCookies,
        path: &str,
        body: Value,
    ) -> TestResponse {
        let res = target
            .send(
                &TestRequest::post(api(path))
                    .origin(self.origin())
                    .json(&body)
                    .cookies(jar),
            )
            .await;
        jar.update(&res);
        res
    }

    /// Signs `email` up on `target` with [`PASSWORD`]; its cookies.
    async fn sign_up(&self, target: &Target, email: &str) -> ClientCookies {
        let mut jar = ClientCookies::new();
        let res = self
            .post(
                target,
                &mut jar,
                "/sign-up/email",
                json!({"email": email, "password": PASSWORD, "name": "Ada"}),
            )
            .await;
        assert_eq!(res.status, 200, "{} sign-up: {}", target.label(), res.text);
        jar
    }

    /// The status of signing `email` in on `target` with `password`.
    async fn sign_in_status(&self, target: &Target, email: &str, password: &str) -> u16 {
        self.post(
            target,
            &mut ClientCookies::new(),
            "/sign-in/email",
            json!({"email": email, "password": password}),
        )
        .await
        .status
    }

    /// Asks `target` for a reset link for `email`; the one mail it sent,
    /// read by `mail`.
    async fn request_reset(&self, target: &Target, email: &str, mail: ReadMail) -> SentMail {
        let res = self
            .post(
                target,
                &mut ClientCookies::new(),
                "/request-password-reset",
                json!({"email": email, "redirectTo": "/reset"}),
            )
            .await;
        assert_eq!(res.status, 200, "{}: {}", target.label(), res.text);
        let mut sent = mail(self);
        assert_eq!(
            sent.len(),
            1,
            "{} mailed one link: {sent:?}",
            target.label()
        );
        let mail = sent.remove(0);
        assert_eq!(
            (mail.kind.as_str(), mail.to.as_str()),
            ("reset-password", email)
        );
        mail
    }

    async fn email_verified(&self, email: &str) -> bool {
        sqlx::query_scalar(r#"select "emailVerified" from "user" where email = $1"#)
            .bind(email)
            .fetch_one(&self.pool)
            .await
            .expect("the user is in the shared table")
    }

    /// How many `verification` rows hold the reset record of `token`.
    async fn reset_records(&self, token: &str) -> i64 {
        sqlx::query_scalar("select count(*) from verification where identifier = $1")
            .bind(format!("reset-password:{token}"))
            .fetch_one(&self.pool)
            .await
            .expect("the verification table is shared")
    }

    /// Moves the reset record of `token` a minute into the past.
    async fn expire_reset(&self, token: &str) {
        let done = sqlx::query(
            r#"update verification set "expiresAt" = now() - interval '1 minute' where identifier = $1"#,
        )
        .bind(format!("reset-password:{token}"))
        .execute(&self.pool)
        .await
        .expect("the verification table is shared");
        assert_eq!(done.rows_affected(), 1, "one record for {token}");
    }

    /// Both servers refuse `token` as spent: the link redirects with
    /// `error=INVALID_TOKEN` and the reset answers 400 `INVALID_TOKEN`.
    async fn assert_refused_by_both(&self, mail: &SentMail, why: &str) {
        let token = mail.token().expect("a reset link carries its token");
        for target in self.targets() {
            let res = target
                .send(&TestRequest::get(mail.path(self.origin())))
                .await;
            assert_eq!(
                (res.status, res.header("location")),
                (
                    302,
                    Some(format!("{}/reset?error=INVALID_TOKEN", self.origin()).as_str())
                ),
                "{} follows the link of a {why} token: {}",
                target.label(),
                res.text
            );
            let res = self
                .post(
                    target,
                    &mut ClientCookies::new(),
                    "/reset-password",
                    json!({"newPassword": "yet-another-password", "token": token}),
                )
                .await;
            assert_eq!(
                (res.status, res.code()),
                (400, Some("INVALID_TOKEN")),
                "{} resets with a {why} token: {}",
                target.label(),
                res.text
            );
        }
    }
}

/// Follows `mail` on `target`: the verification redirect to `/`.
async fn follow_verification(shared: &Shared, target: &Target, mail: &SentMail) {
    assert_eq!(mail.kind, "verify-email");
    let res = target
        .send(&TestRequest::get(mail.path(shared.origin())))
        .await;
    assert_eq!(
        (res.status, res.header("location")),
        (302, Some("/")),
        "{} follows {}: {}",
        target.label(),
        mail.url,
        res.text
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verification_links_verify_on_the_other_server() {
    let Some(shared) = Shared::start().await else {
        return;
    };
    let (ba, ts) = (&shared.ba, &shared.ts);

    // Mailed by better-auth, followed on Tessera.
    let ann = unique_email("ann");
    let ann_cookies = shared.sign_up(ba, &ann).await;
    let res = shared
        .post(
            ba,
            &mut ClientCookies::new(),
            "/send-verification-email",
            json!({"email": ann}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let mut mail = shared.better_auth_mail();
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert!(!shared.email_verified(&ann).await);
    follow_verification(&shared, ts, &mail[0]).await;
    assert!(shared.email_verified(&ann).await, "Tessera verified it");
    // better-auth's session, read by Tessera, sees the change.
    let res = ts
        .send(&TestRequest::get(api("/get-session")).cookies(&ann_cookies))
        .await;
    assert_eq!(res.body()["user"]["email"], ann.as_str(), "{}", res.text);
    assert_eq!(res.body()["user"]["emailVerified"], true);
    // Followed again on better-auth: already verified, the same redirect.
    follow_verification(&shared, ba, &mail.remove(0)).await;

    // Mailed by Tessera, followed on better-auth.
    let bob = unique_email("bob");
    let bob_cookies = shared.sign_up(ts, &bob).await;
    let res = shared
        .post(
            ts,
            &mut ClientCookies::new(),
            "/send-verification-email",
            json!({"email": bob}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let mail = shared.tessera_mail();
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert!(!shared.email_verified(&bob).await);
    follow_verification(&shared, ba, &mail[0]).await;
    assert!(shared.email_verified(&bob).await, "better-auth verified it");
    let res = ba
        .send(&TestRequest::get(api("/get-session")).cookies(&bob_cookies))
        .await;
    assert_eq!(res.body()["user"]["emailVerified"], true, "{}", res.text);

    // Nothing else was mailed on the way.
    assert_eq!(shared.better_auth_mail(), []);
    assert_eq!(shared.tessera_mail(), []);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_of_address_crosses_both_ways() {
    let Some(shared) = Shared::start().await else {
        return;
    };
    let (ba, ts) = (&shared.ba, &shared.ts);
    let (ann, new_ann) = (unique_email("ann"), unique_email("ann-new"));
    let mut cookies = shared.sign_up(ba, &ann).await;
    shared
        .post(
            ba,
            &mut ClientCookies::new(),
            "/send-verification-email",
            json!({"email": ann}),
        )
        .await;
    let verify = shared.better_auth_mail().remove(0);
    follow_verification(&shared, ba, &verify).await;

    // better-auth mails the confirmation to the current address …
    let res = shared
        .post(
            ba,
            &mut cookies,
            "/change-email",
            json!({"newEmail": new_ann}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let confirmation = shared.better_auth_mail().remove(0);
    assert_eq!(
        (confirmation.kind.as_str(), confirmation.to.as_str()),
        ("change-email-confirmation", ann.as_str())
    );
    // … Tessera takes it and mails the new address …
    let res = ts
        .send(&TestRequest::get(confirmation.path(shared.origin())))
        .await;
    assert_eq!(
        (res.status, res.header("location")),
        (302, Some("/")),
        "{}",
        res.text
    );
    let mut mail = shared.tessera_mail();
    assert_eq!(mail.len(), 1, "{mail:?}");
    let to_new = mail.remove(0);
    assert_eq!(
        (to_new.kind.as_str(), to_new.to.as_str()),
        ("verify-email", new_ann.as_str())
    );
    // … and better-auth changes the address when that link is followed.
    follow_verification(&shared, ba, &to_new).await;
    assert!(shared.email_verified(&new_ann).await);
    for target in shared.targets() {
        assert_eq!(
            shared.sign_in_status(target, &new_ann, PASSWORD).await,
            200,
            "{} signs the new address in",
            target.label()
        );
        assert_eq!(
            shared.sign_in_status(target, &ann, PASSWORD).await,
            401,
            "{} no longer knows the old address",
            target.label()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_tokens_reset_on_the_other_server_once() {
    let Some(shared) = Shared::start().await else {
        return;
    };
    let (ba, ts) = (&shared.ba, &shared.ts);
    let origin = shared.origin().to_owned();

    // Requested on one server, used on the other: both directions.
    let cases: [(&str, &Target, &Target, ReadMail); 2] = [
        ("ann", ba, ts, Shared::better_auth_mail),
        ("bob", ts, ba, Shared::tessera_mail),
    ];
    for (name, requested_on, used_on, mailbox) in cases {
        let email = unique_email(name);
        // Signed up where the reset is used: the account crosses too.
        shared.sign_up(used_on, &email).await;
        let mail = shared.request_reset(requested_on, &email, mailbox).await;
        let token = mail.token().expect("a reset link carries its token");
        assert_eq!(
            shared.reset_records(&token).await,
            1,
            "{} keeps the record in the shared table",
            requested_on.label()
        );

        let res = used_on.send(&TestRequest::get(mail.path(&origin))).await;
        assert_eq!(
            (res.status, res.header("location")),
            (302, Some(format!("{origin}/reset?token={token}").as_str())),
            "{} follows {}'s link: {}",
            used_on.label(),
            requested_on.label(),
            res.text
        );
        let res = shared
            .post(
                used_on,
                &mut ClientCookies::new(),
                "/reset-password",
                json!({"newPassword": NEW_PASSWORD, "token": token}),
            )
            .await;
        assert_eq!(
            (res.status, res.body()),
            (200, &json!({"status": true})),
            "{} resets with {}'s token",
            used_on.label(),
            requested_on.label()
        );
        assert_eq!(shared.reset_records(&token).await, 0, "the record is spent");
        shared.assert_refused_by_both(&mail, "used").await;

        // The new password's hash works on both servers, the old one on none.
        for target in shared.targets() {
            assert_eq!(
                shared.sign_in_status(target, &email, NEW_PASSWORD).await,
                200,
                "{} signs in with the password set on {}",
                target.label(),
                used_on.label()
            );
            assert_eq!(
                shared.sign_in_status(target, &email, PASSWORD).await,
                401,
                "{} refuses the old password",
                target.label()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_reset_tokens_are_refused_by_both() {
    let Some(shared) = Shared::start().await else {
        return;
    };
    let (ba, ts) = (&shared.ba, &shared.ts);
    let cases: [(&str, &Target, ReadMail); 2] = [
        ("ann", ba, Shared::better_auth_mail),
        ("bob", ts, Shared::tessera_mail),
    ];
    for (name, requested_on, mailbox) in cases {
        let email = unique_email(name);
        shared.sign_up(requested_on, &email).await;
        let mail = shared.request_reset(requested_on, &email, mailbox).await;
        let token = mail.token().expect("a reset link carries its token");
        shared.expire_reset(&token).await;
        shared.assert_refused_by_both(&mail, "expired").await;
        for target in shared.targets() {
            assert_eq!(
                shared.sign_in_status(target, &email, PASSWORD).await,
                200,
                "{}: the password did not change",
                target.label()
            );
        }
    }
}
