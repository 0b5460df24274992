//! `POST /request-password-reset` for a known and for an unknown address:
//! the two must not be told apart by time (no account enumeration). The
//! known address stores a one-time record and hands a message to the
//! mailer (a queue in production; here one that drops it), the unknown
//! one spends a lookup of a record instead; both then wait for the same
//! floor (`EvenTiming`). Run with
//! `cargo bench -p tessera --bench lifecycle`.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use http::Request;
use tessera::mail::{MailError, Mailer, Message};
use tessera::{Auth, Options};

const SECRET: &str = "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
const ORIGIN: &str = "http://localhost:3000";

/// Takes a message as a queue would, and drops it.
struct Dropping;

#[async_trait]
impl Mailer for Dropping {
    async fn send(&self, message: Message) -> Result<(), MailError> {
        black_box(message);
        Ok(())
    }
}

fn json_post(path: &str, body: &str) -> Request<Bytes> {
    Request::post(path)
        .header("content-type", "application/json")
        .header("origin", ORIGIN)
        .body(Bytes::from(body.to_owned()))
        .unwrap()
}

fn request_password_reset(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let auth = Auth::builder(
        Options::new()
            .secret(SECRET)
            .base_url(ORIGIN)
            .rate_limit(false),
    )
    .database(Arc::new(tessera::store::MemoryDatabase::new()))
    .mailer(Arc::new(Dropping))
    .build()
    .unwrap();
    let res = rt.block_on(auth.handle(json_post(
        "/api/auth/sign-up/email",
        r#"{"email":"known@example.com","password":"password1234","name":"Bench"}"#,
    )));
    assert_eq!(res.status(), 200);
    let mut group = c.benchmark_group("request_password_reset");
    for (name, email) in [
        ("known", "known@example.com"),
        ("unknown", "unknown@example.com"),
    ] {
        let body = format!(r#"{{"email":"{email}","redirectTo":"/reset"}}"#);
        group.bench_function(name, |b| {
            b.iter(|| {
                let res =
                    rt.block_on(auth.handle(json_post("/api/auth/request-password-reset", &body)));
                assert_eq!(res.status(), 200);
                black_box(res);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, request_password_reset);
criterion_main!(benches);
