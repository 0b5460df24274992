//! Enabling the plugin by id, through the link-time registry.

mod common;

use common::*;
use http::StatusCode;

#[tokio::test]
async fn enabled_by_id_once_linked() {
    tessera_multi_session::link();
    let ids: Vec<&str> = tessera::plugin::registered().iter().map(|r| r.id).collect();
    assert!(ids.contains(&"multi-session"), "{ids:?}");
    let registration = tessera::plugin::find("multi-session").unwrap();
    assert_eq!(registration.crate_name, "tessera-multi-session");

    let mut opts = options();
    opts.plugins = vec!["multi-session".into()];
    let h = Harness::with(opts, ORIGIN, |b| b);
    assert_eq!(h.auth.plugin_ids(), ["multi-session"]);
    let routes = h.auth.routes();
    for route in [
        "GET /multi-session/list-device-sessions",
        "POST /multi-session/revoke",
        "POST /multi-session/set-active",
    ] {
        assert!(routes.iter().any(|r| r == route), "{route} in {routes:?}");
    }

    h.sign_up("alice@example.com").await;
    let mut device = h.browser();
    let r = device.sign_in("alice@example.com").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.device_cookies_set(), [device_cookie(&r.token())]);
    assert_eq!(device.list().await, ["alice@example.com"]);
}

fn device_cookie(token: &str) -> String {
    common::device(token)
}
