//! better-auth's key layout (spec §5.2), end to end: a Tessera `Auth` over
//! Redis, driven through its HTTP API, and the keys it leaves behind.

mod common;

use common::{Browser, KeySpace, Raw, ORIGIN};
use serde_json::Value;
use tessera_testkit::TestRequest;

const WEEK_SECS: i64 = 604_800;

fn json(raw: Option<String>) -> Value {
    serde_json::from_str(&raw.expect("the key exists")).expect("the value is JSON")
}

#[tokio::test]
async fn sign_in_writes_session_keys_and_revocation_leaves_only_the_watermark() {
    let space = KeySpace::new("layout");
    let Some(storage) = space.storage().await else {
        return;
    };
    let mut raw = Raw::of(&storage).await;
    let p = space.prefix.clone();
    let auth = common::auth(storage, ORIGIN);
    let mut browser = Browser::new(&auth, ORIGIN);

    let up = browser.sign_up("layout@example.com").await;
    assert_eq!(up.status, 200, "{}", up.text);
    let first = up.json.as_ref().unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let user_id = up.json.as_ref().unwrap()["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let signed_up_cookies = browser.cookies.header().unwrap();
    let inn = browser.sign_in("layout@example.com").await;
    assert_eq!(inn.status, 200, "{}", inn.text);
    let second = inn.json.as_ref().unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // <p><token>: {session, user}, until the session's expiry.
    for token in [&first, &second] {
        let value = json(raw.get(&format!("{p}{token}")).await);
        let session = &value["session"];
        assert_eq!(session["token"], token.as_str());
        assert_eq!(session["userId"], user_id.as_str());
        for field in ["id", "expiresAt", "createdAt", "updatedAt"] {
            assert!(session[field].is_string(), "session.{field}: {value}");
        }
        for field in ["ipAddress", "userAgent"] {
            assert!(session.get(field).is_some(), "session.{field}: {value}");
        }
        let user = &value["user"];
        assert_eq!(user["id"], user_id.as_str());
        assert_eq!(user["email"], "layout@example.com");
        assert_eq!(user["emailVerified"], false);
        let ttl = raw.ttl(&format!("{p}{token}")).await;
        assert!((WEEK_SECS - 2..=WEEK_SECS).contains(&ttl), "ttl {ttl}");
    }

    // <p>active-sessions-<userId>: [{token, expiresAt}] sorted by expiry.
    let list_key = format!("{p}active-sessions-{user_id}");
    let list = json(raw.get(&list_key).await);
    let entries = list.as_array().expect("an array");
    assert_eq!(entries.len(), 2, "{list}");
    let tokens: Vec<&str> = entries
        .iter()
        .map(|e| e["token"].as_str().unwrap())
        .collect();
    assert_eq!(tokens, [first.as_str(), second.as_str()]);
    let expiries: Vec<i64> = entries
        .iter()
        .map(|e| e["expiresAt"].as_i64().expect("expiresAt is a ms number"))
        .collect();
    assert!(expiries[0] <= expiries[1], "sorted: {list}");
    for e in entries {
        assert_eq!(
            e.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["token", "expiresAt"]
        );
    }
    let ttl = raw.ttl(&list_key).await;
    assert!((WEEK_SECS - 2..=WEEK_SECS).contains(&ttl), "ttl {ttl}");

    let mut keys = vec![
        first.clone(),
        second.clone(),
        format!("active-sessions-{user_id}"),
    ];
    keys.sort();
    assert_eq!(space.keys(), keys, "nothing else is written");

    let session = browser.get("/get-session").await;
    assert_eq!(session.status, 200);
    assert_eq!(session.json.as_ref().unwrap()["session"]["token"], second);

    // /revoke-sessions: the watermark, and every token gone.
    let revoked = browser
        .post("/revoke-sessions", serde_json::json!({}))
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert_eq!(revoked.text, r#"{"status":true}"#);
    let watermark_key = format!("revoked-sessions-before-{user_id}");
    assert_eq!(space.shared_keys(), std::slice::from_ref(&watermark_key));
    assert!(space.has_revocation_log(), "and Tessera's revocation log");
    let watermark: i64 = raw
        .get(&format!("{p}{watermark_key}"))
        .await
        .unwrap()
        .parse()
        .expect("a ms timestamp as text");
    assert!(watermark >= expiries[1] - WEEK_SECS * 1000, "{watermark}");
    assert_eq!(raw.ttl(&format!("{p}{watermark_key}")).await, WEEK_SECS);

    // The first device's cookie no longer signs anyone in.
    let old = browser
        .send(TestRequest::get("/api/auth/get-session").header("cookie", signed_up_cookies))
        .await;
    assert_eq!(old.status, 200);
    assert_eq!(old.json, Some(Value::Null));
}

#[tokio::test]
async fn sign_out_removes_the_token_and_the_emptied_list() {
    let space = KeySpace::new("signout");
    let Some(storage) = space.storage().await else {
        return;
    };
    let auth = common::auth(storage, ORIGIN);
    let mut browser = Browser::new(&auth, ORIGIN);
    let up = browser.sign_up("out@example.com").await;
    assert_eq!(up.status, 200, "{}", up.text);
    assert_eq!(space.keys().len(), 2, "{:?}", space.keys());
    let out = browser.post("/sign-out", serde_json::json!({})).await;
    assert_eq!(out.status, 200, "{}", out.text);
    assert!(space.shared_keys().is_empty(), "{:?}", space.keys());
    assert!(
        space.has_revocation_log(),
        "only Tessera's revocation log is left"
    );
}

#[tokio::test]
async fn revoking_one_session_keeps_the_others_listed() {
    let space = KeySpace::new("revoke-one");
    let Some(storage) = space.storage().await else {
        return;
    };
    let mut raw = Raw::of(&storage).await;
    let auth = common::auth(storage, ORIGIN);
    let mut browser = Browser::new(&auth, ORIGIN);
    let up = browser.sign_up("one@example.com").await;
    let first = up.json.as_ref().unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let user_id = up.json.as_ref().unwrap()["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let inn = browser.sign_in("one@example.com").await;
    let second = inn.json.as_ref().unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = browser
        .post("/revoke-session", serde_json::json!({ "token": first }))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let list = json(
        raw.get(&format!("{}active-sessions-{user_id}", space.prefix))
            .await,
    );
    let tokens: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["token"].as_str().unwrap())
        .collect();
    assert_eq!(tokens, [second.as_str()]);
    assert_eq!(raw.get(&format!("{}{first}", space.prefix)).await, None);
    let listed = browser.get("/list-sessions").await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.json.as_ref().unwrap().as_array().unwrap().len(), 1);
}
