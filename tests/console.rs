//! The operator console over real HTTP, against a running relay and the real Postfix upstream:
//! logins and the ban, CSRF, the security headers, the JSON API with a Bearer token, and the
//! dialogs' effects on real mail (test mode, the liste noire, limits reset, queue actions).
//! The browser tests (tests/browser/) drive the same pages in Chromium.

mod common;

use std::time::Duration;

use common::console::{base, get, http, login};
use common::{Client, Harness, TestRelay, unique};
use reqwest::StatusCode;

const PASSWORD: &str = "console-pass-1";
const UPSTREAM_SECRET: &str = "Upstr3am-S3cret-xyz";

/// A relay whose console has a password; the Postfix upstream; a comment to keep in the file.
async fn relay(extra: &str) -> TestRelay {
    let hash = smarthost::config::hash_password(PASSWORD);
    let upstreams = format!(
        "# our provider, do not remove this comment\n[[upstream]]\nname = \"harness\"\nhost = \"127.0.0.1\"\nport = 2025\n\
         conn = \"plaintext\"\nauth = \"none\"\ntimeout = \"20s\"\n{extra}\n\
         [[upstream]]\nname = \"secretive\"\nhost = \"127.0.0.1\"\nport = 2587\nconn = \"starttls\"\n\
         username = \"someone@example.test\"\npassword = \"{UPSTREAM_SECRET}\"\nsenders = [\"nobody.invalid\"]\n"
    );
    let server = format!(
        "auth_fail_limit = 3\n[console]\nlisten = \"127.0.0.1:0\"\npassword_hash = \"{hash}\"\n"
    );
    let upstreams = upstreams.replacen(
        "[[upstream]]\nname = \"harness\"",
        "[[upstream]]\nname = \"harness\"\ndefault = true",
        1,
    );
    TestRelay::start_from_file(&upstreams, &server).await
}

/// A Bearer token made from a console session.
async fn api_token(r: &TestRelay, cookie: &str, csrf: &str, label: &str) -> String {
    let made: serde_json::Value = post_json(
        r,
        cookie,
        Some(csrf),
        "/api/v1/tokens",
        serde_json::json!({ "label": label }),
    )
    .await
    .json()
    .await
    .unwrap();
    made["token"].as_str().unwrap().to_string()
}

/// With `per_hour = 1` on the harness: one message delivered, a second held by the quota; the
/// second's recipient.
async fn one_sent_one_held(r: &TestRelay) -> String {
    let first = format!("{}@example.net", unique("q1"));
    let second = format!("{}@example.net", unique("q2"));
    send(r, &first).await;
    Harness::get().wait_for(&first).await;
    send(r, &second).await;
    r.wait_queue("held", |q| q.iter().any(|e| e.limited_by.is_some()))
        .await;
    second
}

async fn post_json(
    r: &TestRelay,
    cookie: &str,
    csrf: Option<&str>,
    path: &str,
    body: serde_json::Value,
) -> reqwest::Response {
    let mut req = http()
        .post(format!("{}{path}", base(r)))
        .header("cookie", cookie)
        .json(&body);
    if let Some(t) = csrf {
        req = req.header("x-csrf-token", t);
    }
    req.send().await.unwrap()
}

async fn send(r: &TestRelay, to: &str) -> String {
    let (mut c, _) = Client::connect(r.addr()).await;
    let body =
        format!("From: <pay@example.test>\r\nTo: <{to}>\r\nSubject: console\r\n\r\nhello\r\n");
    c.send("<pay@example.test>", &[&format!("<{to}>")], body.as_bytes())
        .await
}

/// The queue id of a message the Postfix upstream defers (`451` for a `tempfail-` recipient).
async fn deferred_message(r: &TestRelay, tag: &str) -> String {
    let to = format!("tempfail-{}@example.net", unique(tag));
    common::queue_id(&send(r, &to).await)
}

#[tokio::test]
async fn the_password_opens_a_session_a_wrong_one_is_refused_and_repeated_ones_ban() {
    let r = relay("").await;
    let wrong = http()
        .post(format!("{}/login", base(&r)))
        .form(&[("password", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.headers()["location"], "/login?error=wrong");
    for _ in 0..2 {
        http()
            .post(format!("{}/login", base(&r)))
            .form(&[("password", "nope")])
            .send()
            .await
            .unwrap();
    }
    let banned = http()
        .post(format!("{}/login", base(&r)))
        .form(&[("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(
        banned.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login?error=banned")
    );
    // Without a session every page leads to the login.
    let anon = http()
        .get(format!("{}/queue", base(&r)))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.headers()["location"], "/login");
    let api = http()
        .get(format!("{}/api/v1/status", base(&r)))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_same_site_strict_and_pages_carry_a_strict_csp() {
    let r = relay("").await;
    let resp = http()
        .post(format!("{}/login", base(&r)))
        .form(&[("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let set = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let page = http()
        .get(format!("{}/login", base(&r)))
        .send()
        .await
        .unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
}

#[tokio::test]
async fn a_state_changing_request_without_the_csrf_token_is_refused() {
    let r = relay("").await;
    let (cookie, csrf) = login(&r, PASSWORD).await;
    let forged = post_json(
        &r,
        &cookie,
        None,
        "/api/v1/test-mode",
        serde_json::json!({"enabled": true, "redirect_to": "x@example.net"}),
    )
    .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let form = http()
        .post(format!("{}/test-mode", base(&r)))
        .header("cookie", &cookie)
        .form(&[("enabled", "on"), ("redirect_to", "x@example.net")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::FORBIDDEN);
    assert!(!r.relay.live.policy().test_mode(), "nothing changed");
    let ok = post_json(
        &r,
        &cookie,
        Some(&csrf),
        "/api/v1/test-mode",
        serde_json::json!({"enabled": false}),
    )
    .await;
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test]
async fn test_mode_turned_on_in_the_console_sends_mail_only_to_the_redirect_address() {
    let r = relay("").await;
    let (cookie, csrf) = login(&r, PASSWORD).await;
    let tester = format!("{}@example.net", unique("tester"));
    let resp = post_json(
        &r,
        &cookie,
        Some(&csrf),
        "/api/v1/test-mode",
        serde_json::json!({"enabled": true, "redirect_to": tester}),
    )
    .await;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "{}",
        resp.text().await.unwrap()
    );
    let page = get(&r, &cookie, "/").await;
    assert!(page.contains("class=\"banner\""), "the red banner shows");
    let to = format!("{}@example.net", unique("customer"));
    send(&r, &to).await;
    Harness::get().wait_for(&tester).await;
    assert!(Harness::get().find(&to).is_none());
    // The file keeps its comments, and the previous one is kept.
    let text = std::fs::read_to_string(r.config_path()).unwrap();
    assert!(
        text.contains("# our provider, do not remove this comment"),
        "{text}"
    );
    assert!(
        text.contains("[test_mode]") && text.contains(&tester),
        "{text}"
    );
    assert!(r.dir.path().join("smarthost.toml.bak").exists());
}

#[tokio::test]
async fn a_blacklist_entry_added_in_the_console_is_refused_at_rcpt() {
    let r = relay("").await;
    let (cookie, csrf) = login(&r, PASSWORD).await;
    let victim = format!("{}@example.net", unique("listed"));
    let resp = post_json(
        &r,
        &cookie,
        Some(&csrf),
        "/api/v1/blacklist",
        serde_json::json!({"entry": victim}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let (mut c, _) = Client::connect(r.addr()).await;
    c.cmd("EHLO x").await;
    c.cmd("MAIL FROM:<pay@example.test>").await;
    let reply = c.cmd(&format!("RCPT TO:<{victim}>")).await;
    assert!(reply.starts_with("550"), "{reply}");
    let bad = post_json(
        &r,
        &cookie,
        Some(&csrf),
        "/api/v1/blacklist",
        serde_json::json!({"entry": "not an address"}),
    )
    .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_full_quota_reset_in_the_console_lets_the_held_mail_go() {
    let r = relay("[upstream.limits]\nper_hour = 1\n").await;
    let (cookie, csrf) = login(&r, PASSWORD).await;
    let second = one_sent_one_held(&r).await;
    let limits = get(&r, &cookie, "/limits").await;
    assert!(
        limits.contains("1 of 1 used") || limits.contains("per_hour"),
        "{limits}"
    );
    let reset = http()
        .post(format!("{}/limits/reset", base(&r)))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str()), ("upstream", "harness")])
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), StatusCode::SEE_OTHER);
    Harness::get().wait_for(&second).await;
}

#[tokio::test]
async fn queue_actions_hold_retry_and_delete_a_message() {
    // An upstream that refuses nothing but is never reached: the message waits.
    let r = relay("").await;
    let (cookie, csrf) = login(&r, PASSWORD).await;
    let id = deferred_message(&r, "q").await;
    r.wait_queue("deferred", |q| {
        q.iter().any(|e| e.id == id && e.attempts >= 1)
    })
    .await;
    let page = get(&r, &cookie, &format!("/queue/{id}")).await;
    assert!(
        page.contains("451"),
        "the server's reply is in the history: {page}"
    );
    for action in ["hold", "release", "retry"] {
        let resp = post_json(
            &r,
            &cookie,
            Some(&csrf),
            &format!("/api/v1/queue/{id}/{action}"),
            serde_json::json!({}),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::OK, "{action}");
    }
    let del = post_json(
        &r,
        &cookie,
        Some(&csrf),
        &format!("/api/v1/queue/{id}/delete-silent"),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(del.status(), StatusCode::OK);
    r.wait_queue("deleted", |q| q.iter().all(|e| e.id != id))
        .await;
}

#[tokio::test]
async fn retry_now_attempts_a_deferred_message_again_at_once() {
    // The journal hears the mail log as `smarthost run` sets it up.
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = tracing_subscriber::registry()
        .with(smarthost::console::journal::Layer)
        .try_init();
    let r = relay("").await;
    let (cookie, csrf) = login(&r, PASSWORD).await;
    let id = deferred_message(&r, "again").await;
    r.wait_queue("one attempt", |q| {
        q.iter().any(|e| e.id == id && e.attempts == 1)
    })
    .await;
    let resp = post_json(
        &r,
        &cookie,
        Some(&csrf),
        &format!("/api/v1/queue/{id}/retry"),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    // The schedule's next attempt is a minute away: a second one now is the retry's doing,
    // and its outcome (deferred again, with the same reply) is in the journal.
    let deferrals = || async {
        let j = get(&r, &cookie, &format!("/api/v1/journal?filter={id}")).await;
        j.matches("\"deferred\"").count()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while deferrals().await < 2 {
        assert!(std::time::Instant::now() < deadline, "no second deferral");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_queue_is_filtered_by_upstream_and_names_each_messages_upstream() {
    let r = relay("").await;
    let (cookie, _) = login(&r, PASSWORD).await;
    let id = deferred_message(&r, "up").await;
    r.wait_queue("queued", |q| q.iter().any(|e| e.id == id))
        .await;
    let harness = get(&r, &cookie, "/api/v1/queue?upstream=harness").await;
    let rows: serde_json::Value = serde_json::from_str(&harness).unwrap();
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{id} under harness: {harness}"));
    assert_eq!(row["upstream"], "harness", "routed by default to harness");
    let other = get(&r, &cookie, "/api/v1/queue?upstream=secretive").await;
    assert!(!other.contains(&id), "{id} under secretive: {other}");
    let page = get(&r, &cookie, "/queue?upstream=secretive").await;
    assert!(!page.contains(&id), "the page filters too");
    assert!(
        page.contains("<option value=\"secretive\" selected"),
        "{page}"
    );
}

/// Every state-changing endpoint of the API.
const API_POSTS: [&str; 11] = [
    "/queue/X/retry",
    "/limits/reset",
    "/test-mode",
    "/blacklist",
    "/blacklist/remove",
    "/tokens",
    "/servers",
    "/servers/harness",
    "/servers/harness/default",
    "/servers/harness/test",
    "/servers/harness/delete",
];

#[tokio::test]
async fn every_api_change_from_a_session_wants_its_csrf_token() {
    let r = relay("").await;
    let (cookie, _) = login(&r, PASSWORD).await;
    for path in API_POSTS {
        let resp = http()
            .post(format!("{}/api/v1{path}", base(&r)))
            .header("cookie", &cookie)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "POST {path}");
    }
}

#[tokio::test]
async fn every_api_endpoint_wants_a_login_and_every_page_sends_to_the_login_page() {
    let r = relay("").await;
    let gets = [
        "/status",
        "/upstreams",
        "/queue",
        "/queue/X",
        "/limits",
        "/test-mode",
        "/blacklist",
        "/journal",
        "/tokens",
        "/servers",
        "/servers/harness",
        "/servers/export.csv",
        "/servers/export.json",
        "/presets",
    ];
    for path in gets {
        let resp = http()
            .get(format!("{}/api/v1{path}", base(&r)))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "GET {path}");
    }
    let posts = API_POSTS;
    for path in posts {
        let resp = http()
            .post(format!("{}/api/v1{path}", base(&r)))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "POST {path}");
    }
    for path in [
        "/",
        "/servers",
        "/queue",
        "/limits",
        "/test-mode",
        "/blacklist",
        "/journal",
    ] {
        let resp = http()
            .get(format!("{}{path}", base(&r)))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "GET {path}");
        assert_eq!(resp.headers()["location"], "/login", "GET {path}");
    }
}

#[tokio::test]
async fn a_blacklist_entry_removed_through_the_api_is_accepted_again_at_rcpt() {
    let r = relay("").await;
    let (cookie, csrf) = login(&r, PASSWORD).await;
    let listed = format!("{}@example.net", unique("unlisted"));
    let entry = serde_json::json!({ "entry": listed });
    for path in ["/api/v1/blacklist", "/api/v1/blacklist/remove"] {
        let resp = post_json(&r, &cookie, Some(&csrf), path, entry.clone()).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
    let list = get(&r, &cookie, "/api/v1/blacklist").await;
    assert!(!list.contains(&listed), "{list}");
    let (mut c, _) = Client::connect(r.addr()).await;
    c.cmd("EHLO x").await;
    c.cmd("MAIL FROM:<pay@example.test>").await;
    let reply = c.cmd(&format!("RCPT TO:<{listed}>")).await;
    assert!(reply.starts_with("250"), "{reply}");
}

#[tokio::test]
async fn one_message_through_the_api_has_its_envelope_headers_and_history() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = tracing_subscriber::registry()
        .with(smarthost::console::journal::Layer)
        .try_init();
    let r = relay("").await;
    let (cookie, _) = login(&r, PASSWORD).await;
    let id = deferred_message(&r, "one").await;
    r.wait_queue("an attempt", |q| {
        q.iter().any(|e| e.id == id && e.attempts >= 1)
    })
    .await;
    let text = get(&r, &cookie, &format!("/api/v1/queue/{id}")).await;
    let m: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(m["from"], "pay@example.test", "{text}");
    assert!(
        m["recipients"][0]["state"]
            .as_str()
            .unwrap()
            .contains("451"),
        "{text}"
    );
    assert!(
        m["headers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["name"] == "Subject"),
        "{text}"
    );
    let history: Vec<&str> = m["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    assert!(
        history.contains(&"queued") && history.contains(&"deferred"),
        "{history:?}"
    );
    let none = http()
        .get(format!("{}/api/v1/queue/NOSUCHID", base(&r)))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_journal_streams_a_new_event_as_it_happens() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = tracing_subscriber::registry()
        .with(smarthost::console::journal::Layer)
        .try_init();
    let r = relay("").await;
    let (cookie, _) = login(&r, PASSWORD).await;
    let to = format!("{}@example.net", unique("streamed"));
    let mut stream = http()
        .get(format!("{}/api/v1/journal/stream?filter={to}", base(&r)))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    send(&r, &to).await;
    let mut seen = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !seen.contains("delivered") {
        assert!(std::time::Instant::now() < deadline, "no event: {seen}");
        match tokio::time::timeout(Duration::from_secs(30), stream.chunk()).await {
            Ok(Ok(Some(bytes))) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            other => panic!("the stream ended: {other:?} after {seen}"),
        }
    }
    assert!(seen.starts_with("data:") && seen.contains(&to), "{seen}");
}

#[tokio::test]
async fn limits_reset_through_the_api_with_a_token_lets_the_held_mail_go() {
    let r = relay("[upstream.limits]\nper_hour = 1\n").await;
    let (cookie, csrf) = login(&r, PASSWORD).await;
    let token = api_token(&r, &cookie, &csrf, "reset script").await;
    let second = one_sent_one_held(&r).await;
    let limits = http()
        .get(format!("{}/api/v1/limits", base(&r)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(limits.contains("harness"), "{limits}");
    let reset = http()
        .post(format!("{}/api/v1/limits/reset", base(&r)))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "upstream": "harness" }))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), StatusCode::OK);
    Harness::get().wait_for(&second).await;
}

#[tokio::test]
async fn a_bearer_token_made_in_the_console_drives_the_api_without_a_session() {
    let r = relay("").await;
    let (cookie, csrf) = login(&r, PASSWORD).await;
    let token = api_token(&r, &cookie, &csrf, "backup script").await;
    let token = token.as_str();
    let status = http()
        .get(format!("{}/api/v1/status", base(&r)))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), StatusCode::OK);
    let v: serde_json::Value = status.json().await.unwrap();
    assert!(v["queue"]["messages"].is_number(), "{v}");
    let wrong = http()
        .get(format!("{}/api/v1/status", base(&r)))
        .bearer_auth("forged")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn no_page_or_answer_contains_a_configured_password() {
    let r = relay("").await;
    let (cookie, _) = login(&r, PASSWORD).await;
    for path in [
        "/",
        "/servers",
        "/queue",
        "/limits",
        "/test-mode",
        "/blacklist",
        "/journal",
        "/api/v1/status",
        "/api/v1/upstreams",
        "/api/v1/limits",
    ] {
        let body = get(&r, &cookie, path).await;
        assert!(
            !body.contains(UPSTREAM_SECRET),
            "{path} shows the upstream's password"
        );
        assert!(
            !body.contains(PASSWORD),
            "{path} shows the console password"
        );
    }
}

#[tokio::test]
async fn values_a_client_chose_are_escaped_in_the_pages() {
    let r = relay("").await;
    let (cookie, _) = login(&r, PASSWORD).await;
    let (mut c, _) = Client::connect(r.addr()).await;
    let to = format!("tempfail-{}@example.net", unique("x"));
    let body = format!(
        "From: <pay@example.test>\r\nTo: <{to}>\r\nSubject: <script>alert(1)</script>\r\n\r\nx\r\n"
    );
    let reply = c
        .send("<pay@example.test>", &[&format!("<{to}>")], body.as_bytes())
        .await;
    let id = common::queue_id(&reply);
    let page = get(&r, &cookie, &format!("/queue/{id}")).await;
    assert!(
        !page.contains("<script>alert(1)</script>"),
        "raw markup in the page"
    );
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
}

#[tokio::test]
async fn the_pages_speak_french_when_asked() {
    let r = relay("").await;
    let (cookie, _) = login(&r, PASSWORD).await;
    let page = http()
        .get(format!("{}/limits", base(&r)))
        .header("cookie", format!("{cookie}; lang=fr"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Réinitialiser les limites maintenant"),
        "{page}"
    );
    let de = http()
        .get(format!("{}/limits", base(&r)))
        .header("cookie", &cookie)
        .header("accept-language", "de-CH, de;q=0.9")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(de.contains("Limits jetzt zurücksetzen"), "{de}");
}
