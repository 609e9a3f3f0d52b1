//! The operator console over HTTP for the console tests: a client that does not follow
//! redirects (the tests read them), the console's address, and a login.

use std::time::Duration;

use reqwest::redirect::Policy;

use super::TestRelay;

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

pub fn base(r: &TestRelay) -> String {
    format!("http://{}", r.relay.console_addr.expect("console on"))
}

/// Logs in with `password`: the session cookie and the CSRF token of its pages.
pub async fn login(r: &TestRelay, password: &str) -> (String, String) {
    let resp = http()
        .post(format!("{}/login", base(r)))
        .form(&[("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::SEE_OTHER, "login");
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = get(r, &cookie, "/").await;
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    (cookie, csrf)
}

/// A page or an API answer as the logged-in session `cookie` sees it.
pub async fn get(r: &TestRelay, cookie: &str, path: &str) -> String {
    http()
        .get(format!("{}{path}", base(r)))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
