//! Tessera and the real better-auth 1.7.25 sharing one Redis, one secret
//! and one key prefix (`@better-auth/redis-storage`'s `keyPrefix`): each
//! finds the other's sessions, a revocation on one is honoured by the
//! other, and the keys Tessera writes have better-auth's names, fields and
//! types.
//!
//! Skip/fail rule: no Redis, or no node/npm for the reference server,
//! prints a banner and skips, unless `CI=true`.

mod common;

use common::{KeySpace, Raw, SECRET};
use serde_json::{Map, Value};
use tessera_testkit::{require_refserver, ClientCookies, Target, TestRequest, TestResponse};

const WEEK_SECS: i64 = 604_800;

/// The JSON type of every field, recursively (`"string"`, `"number"`, …),
/// so two values compare by shape: same names, same types.
fn shape(v: &Value) -> Value {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "boolean".into(),
        Value::Number(_) => "number".into(),
        Value::String(_) => "string".into(),
        Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), shape(v)))
                .collect::<Map<String, Value>>(),
        ),
    }
}

/// Signs up on `target`; (token, user id, cookies).
async fn sign_up(target: &Target, origin: &str, email: &str) -> (String, String, ClientCookies) {
    let res = target
        .send(
            &TestRequest::post("/api/auth/sign-up/email")
                .origin(origin)
                .json(
                    &serde_json::json!({"email": email, "password": "password1234", "name": "A"}),
                ),
        )
        .await;
    assert_eq!(res.status, 200, "{} sign-up: {}", target.label(), res.text);
    let body = res.json.as_ref().unwrap();
    let mut cookies = ClientCookies::new();
    cookies.update(&res);
    (
        body["token"].as_str().unwrap().to_owned(),
        body["user"]["id"].as_str().unwrap().to_owned(),
        cookies,
    )
}

async fn get_session(target: &Target, cookies: &ClientCookies) -> TestResponse {
    target
        .send(&TestRequest::get("/api/auth/get-session").cookies(cookies))
        .await
}

async fn post(target: &Target, origin: &str, path: &str, cookies: &ClientCookies) -> TestResponse {
    target
        .send(
            &TestRequest::post(format!("/api/auth{path}"))
                .origin(origin)
                .cookies(cookies)
                .json(&serde_json::json!({})),
        )
        .await
}

fn token_of(res: &TestResponse) -> Option<&str> {
    res.json.as_ref()?.get("session")?.get("token")?.as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tessera_and_better_auth_share_sessions_through_redis() {
    let space = KeySpace::new("diff");
    let Some(storage) = space.storage().await else {
        return;
    };
    let mut raw = Raw::of(&storage).await;
    let p = space.prefix.clone();
    let server = require_refserver!(&[
        ("MODE", "memory"),
        ("SECONDARY", "redis"),
        ("REDIS_URL", space.url.as_str()),
        ("REDIS_PREFIX", p.as_str()),
        ("SECRET", SECRET),
    ]);
    let origin = server.base_url().to_owned();
    let ba = Target::http(&origin);
    let ts = Target::auth(common::auth(storage, &origin), &origin);

    // Signed in on Tessera: better-auth finds the session.
    let (t_token, t_user, t_cookies) = sign_up(&ts, &origin, "tessera@example.com").await;
    let res = get_session(&ba, &t_cookies).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(token_of(&res), Some(t_token.as_str()), "{}", res.text);
    assert_eq!(
        res.json.as_ref().unwrap()["user"]["email"],
        "tessera@example.com"
    );

    // Signed in on better-auth: Tessera finds it.
    let (b_token, b_user, b_cookies) = sign_up(&ba, &origin, "better-auth@example.com").await;
    let res = get_session(&ts, &b_cookies).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(token_of(&res), Some(b_token.as_str()), "{}", res.text);

    // Both wrote the same keys, with the same fields and types.
    let t_value: Value =
        serde_json::from_str(&raw.get(&format!("{p}{t_token}")).await.unwrap()).unwrap();
    let b_value: Value =
        serde_json::from_str(&raw.get(&format!("{p}{b_token}")).await.unwrap()).unwrap();
    eprintln!("tessera wrote {t_value}\nbetter-auth wrote {b_value}");
    // serde_json objects compare regardless of field order, which differs
    // by design: Tessera writes the database row's order.
    for part in ["session", "user"] {
        assert_eq!(
            shape(&t_value[part]),
            shape(&b_value[part]),
            "{part}: tessera {} vs better-auth {}",
            t_value[part],
            b_value[part]
        );
    }
    assert_eq!(
        shape(&t_value)
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["session", "user"]
    );
    for (token, user) in [(&t_token, &t_user), (&b_token, &b_user)] {
        let ttl = raw.ttl(&format!("{p}{token}")).await;
        assert!((WEEK_SECS - 2..=WEEK_SECS).contains(&ttl), "ttl {ttl}");
        let list: Value = serde_json::from_str(
            &raw.get(&format!("{p}active-sessions-{user}"))
                .await
                .expect("the list exists"),
        )
        .unwrap();
        assert_eq!(
            shape(&list),
            serde_json::json!([{"token": "string", "expiresAt": "number"}]),
            "{list}"
        );
        assert_eq!(list[0]["token"], token.as_str());
    }

    // Revoked on Tessera: rejected by better-auth.
    let res = post(&ts, &origin, "/revoke-sessions", &t_cookies).await;
    assert_eq!(res.text, r#"{"status":true}"#, "{}", res.status);
    let res = get_session(&ba, &t_cookies).await;
    assert_eq!((res.status, res.json), (200, Some(Value::Null)));

    // Revoked on better-auth: rejected by Tessera.
    let res = post(&ba, &origin, "/revoke-sessions", &b_cookies).await;
    assert_eq!(res.text, r#"{"status":true}"#, "{}", res.status);
    let res = get_session(&ts, &b_cookies).await;
    assert_eq!((res.status, res.json), (200, Some(Value::Null)));

    // Both left the same watermark: a ms timestamp as text, for a week.
    for user in [&t_user, &b_user] {
        let key = format!("{p}revoked-sessions-before-{user}");
        let watermark = raw.get(&key).await.expect("a watermark");
        assert!(
            watermark
                .parse::<i64>()
                .is_ok_and(|ms| ms > 1_700_000_000_000),
            "{watermark}"
        );
        assert_eq!(raw.ttl(&key).await, WEEK_SECS);
        assert_eq!(raw.get(&format!("{p}active-sessions-{user}")).await, None);
    }
    let mut left = space.shared_keys();
    left.sort();
    let mut expected = vec![
        format!("revoked-sessions-before-{t_user}"),
        format!("revoked-sessions-before-{b_user}"),
    ];
    expected.sort();
    assert_eq!(left, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_on_tessera_ends_a_better_auth_session() {
    let space = KeySpace::new("diff-signout");
    let Some(storage) = space.storage().await else {
        return;
    };
    let p = space.prefix.clone();
    let server = require_refserver!(&[
        ("MODE", "memory"),
        ("SECONDARY", "redis"),
        ("REDIS_URL", space.url.as_str()),
        ("REDIS_PREFIX", p.as_str()),
        ("SECRET", SECRET),
    ]);
    let origin = server.base_url().to_owned();
    let ba = Target::http(&origin);
    let ts = Target::auth(common::auth(storage, &origin), &origin);
    let (_, _, cookies) = sign_up(&ba, &origin, "out@example.com").await;
    let res = post(&ts, &origin, "/sign-out", &cookies).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let res = get_session(&ba, &cookies).await;
    assert_eq!((res.status, res.json), (200, Some(Value::Null)));
    assert!(space.shared_keys().is_empty(), "{:?}", space.keys());
}
