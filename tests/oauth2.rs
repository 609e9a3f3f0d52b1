//! OAuth2 grants for XOAUTH2 and OAUTHBEARER, against real parts: the Postfix harness's port
//! 2589, whose Dovecot accepts a token only when the token service says it is active (RFC 7662
//! introspection), and a token service in this test binary (tests/common/token_server.rs) that
//! issues tokens living a few seconds, rotates refresh tokens and fails on demand.

mod common;
#[path = "common/token_server.rs"]
mod token_server;

use std::path::Path;
use std::time::Duration;

use common::{Client, Harness, TestRelay, unique};
use smarthost::spool::RcptState;
use token_server::{SECRET, TokenServer, USER};

/// An upstream `oauth` on the harness's OAuth2 port with an `[upstream.oauth2]` grant of
/// `client_id`; `extra` goes into the `[upstream.oauth2]` table, `auth` into the upstream.
fn upstream(dir: &Path, client_id: &str, flow: &str, auth: &str, extra: &str) -> String {
    let secret = dir.join("client-secret.txt");
    std::fs::write(&secret, SECRET).unwrap();
    let h = Harness::get();
    format!(
        "[[upstream]]\nname = \"oauth\"\nhost = \"127.0.0.1\"\nport = 2589\nconn = \"starttls\"\n\
         ca_file = \"{ca}\"\nusername = \"{USER}\"\ntimeout = \"20s\"\n{auth}\n\
         [upstream.oauth2]\nflow = \"{flow}\"\ntoken_url = \"{token}\"\n\
         device_code_url = \"{device}\"\nclient_id = \"{client_id}\"\n\
         client_secret_file = \"{secret}\"\nscope = \"smtp\"\n{extra}",
        ca = h.ca(),
        token = TokenServer::url("/token"),
        device = TokenServer::url("/devicecode"),
        secret = secret.display(),
    )
}

fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("smarthost-oauth2-")
        .tempdir()
        .unwrap()
}

async fn relay(text: &str) -> TestRelay {
    TestRelay::start(text, "").await
}

/// Sends one message and waits until Postfix's sink has it.
async fn send(relay: &TestRelay) -> common::SinkMessage {
    let to = format!("{}@example.net", unique("oauth"));
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send(
            "<payroll@example.test>",
            &[&format!("<{to}>")],
            &common::message(&unique("s")),
        )
        .await;
    assert!(r.starts_with("250"), "{r}");
    Harness::get().wait_for(&to).await
}

#[tokio::test]
async fn client_credentials_with_xoauth2_deliver_through_a_server_that_checks_the_token() {
    let ts = TokenServer::get();
    let id = unique("cc-xoauth2");
    ts.register(&id, Duration::from_secs(60), None);
    let dir = scratch();
    let relay = relay(&upstream(
        dir.path(),
        &id,
        "client_credentials",
        "auth = \"xoauth2\"",
        "",
    ))
    .await;
    let got = send(&relay).await;
    assert!(
        got.top_received().contains("ESMTPSA"),
        "{}",
        got.top_received()
    );
    let c = ts.client(&id);
    assert_eq!(c.token_requests, 1);
    assert_eq!((c.introspected_active, c.introspected_inactive), (1, 0));
}

#[tokio::test]
async fn oauthbearer_delivers_too() {
    let ts = TokenServer::get();
    let id = unique("cc-bearer");
    ts.register(&id, Duration::from_secs(60), None);
    let dir = scratch();
    let relay = relay(&upstream(
        dir.path(),
        &id,
        "client_credentials",
        "auth = \"oauthbearer\"",
        "",
    ))
    .await;
    send(&relay).await;
    assert_eq!(ts.client(&id).introspected_active, 1);
}

#[tokio::test]
async fn auth_auto_picks_xoauth2_when_a_grant_is_configured() {
    let ts = TokenServer::get();
    let id = unique("cc-auto");
    ts.register(&id, Duration::from_secs(60), None);
    let dir = scratch();
    let relay = relay(&upstream(dir.path(), &id, "client_credentials", "", "")).await;
    let (code, out) = relay.cli(&[
        "send-test",
        "--upstream",
        "oauth",
        "--to",
        &format!("{}@example.net", unique("auto")),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("XOAUTH2"),
        "the trace names the mechanism:\n{out}"
    );
    assert!(out.contains("235"), "{out}");
}

#[tokio::test]
async fn concurrent_deliveries_share_one_token_request() {
    let ts = TokenServer::get();
    let id = unique("cc-shared");
    ts.register(&id, Duration::from_secs(60), None);
    let dir = scratch();
    let relay = relay(&upstream(dir.path(), &id, "client_credentials", "", "")).await;
    let sends: Vec<_> = (0..8).map(|_| send(&relay)).collect();
    futures::future::join_all(sends).await;
    assert_eq!(ts.client(&id).token_requests, 1);
}

#[tokio::test]
async fn tokens_are_renewed_before_they_expire_while_mail_keeps_coming() {
    let ts = TokenServer::get();
    let id = unique("cc-renew");
    // Two-second tokens; the relay closes an idle connection after 5 s, so each burst below
    // opens a new connection and logs in again, long after the previous token expired.
    ts.register(&id, Duration::from_secs(2), None);
    let dir = scratch();
    let relay = relay(&upstream(dir.path(), &id, "client_credentials", "", "")).await;
    for burst in 0..3 {
        if burst > 0 {
            tokio::time::sleep(Duration::from_millis(5600)).await;
        }
        futures::future::join_all((0..3).map(|_| send(&relay))).await;
    }
    let c = ts.client(&id);
    assert_eq!(c.introspected_inactive, 0, "no login with an expired token");
    assert!(
        c.token_requests >= 3,
        "a fresh token per burst: {}",
        c.token_requests
    );
    // The sink has each message; the spool records it a moment later.
    relay
        .wait_queue("every message delivered", |q| q.is_empty())
        .await;
}

#[tokio::test]
async fn a_token_the_server_refuses_is_replaced_once_and_the_mail_still_goes() {
    let ts = TokenServer::get();
    let id = unique("cc-refused");
    ts.register(&id, Duration::from_secs(300), None);
    let dir = scratch();
    let relay = relay(&upstream(
        dir.path(),
        &id,
        "client_credentials",
        "auth = \"xoauth2\"",
        "",
    ))
    .await;
    send(&relay).await;
    // The provider revokes the token early; the relay still believes it has 5 minutes left.
    ts.forget_tokens(&id);
    tokio::time::sleep(Duration::from_millis(5600)).await;
    send(&relay).await;
    let c = ts.client(&id);
    assert_eq!(c.introspected_inactive, 1, "the old token was tried once");
    assert_eq!(c.token_requests, 2, "then exactly one new token");
}

#[tokio::test]
async fn a_rotated_refresh_token_is_saved_and_used_after_a_restart() {
    let ts = TokenServer::get();
    let id = unique("rt-rotate");
    ts.register(&id, Duration::from_secs(300), Some("rt-initial"));
    let dir = scratch();
    let file = dir.path().join("grant.json");
    std::fs::write(&file, "rt-initial\n").unwrap();
    let text = upstream(
        dir.path(),
        &id,
        "refresh_token",
        "",
        &format!("refresh_token_file = \"{}\"\n", file.display()),
    );
    let relay = relay(&text).await;
    send(&relay).await;
    let rotated = ts.client(&id).refresh_token.unwrap();
    assert_ne!(rotated, "rt-initial");
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(
        saved.contains(&rotated),
        "the new refresh token is on disk: {saved}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // A new process has no access token: it must refresh with the rotated token (the server
    // refuses the initial one now).
    let relay = relay.restart().await;
    send(&relay).await;
    assert_eq!(ts.client(&id).refreshes, 2);
}

#[tokio::test]
async fn a_revoked_grant_keeps_the_mail_queued_and_says_what_to_run() {
    let ts = TokenServer::get();
    let id = unique("rt-revoked");
    ts.register(&id, Duration::from_secs(300), Some("rt-initial"));
    ts.update(&id, |c| c.revoked = true);
    let dir = scratch();
    let file = dir.path().join("grant.json");
    std::fs::write(&file, "rt-initial").unwrap();
    let text = upstream(
        dir.path(),
        &id,
        "refresh_token",
        "",
        &format!("refresh_token_file = \"{}\"\n", file.display()),
    );
    let relay = relay(&text).await;
    let to = format!("{}@example.net", unique("revoked"));
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send(
            "<payroll@example.test>",
            &[&format!("<{to}>")],
            &common::message("revoked"),
        )
        .await;
    assert!(r.starts_with("250"), "{r}");
    let reason = relay.first_deferral().await;
    assert!(
        reason.contains("run `smarthost oauth2 login oauth`"),
        "{reason}"
    );
    let q = relay.queue().await;
    assert!(
        matches!(q[0].rcpts[0].1, RcptState::Pending { .. }),
        "never bounced: {q:?}"
    );
    let (_, status) = relay.cli(&["oauth2", "status"]);
    assert!(
        status.contains("last error") && status.contains("invalid_grant"),
        "{status}"
    );
}

#[tokio::test]
async fn oauth2_login_runs_the_device_flow_and_stores_the_refresh_token() {
    let ts = TokenServer::get();
    let id = unique("device");
    ts.register(&id, Duration::from_secs(300), None);
    // The person signs in after two polls.
    ts.update(&id, |c| c.pending_polls = 2);
    let dir = scratch();
    let file = dir.path().join("grant.json");
    let text = upstream(
        dir.path(),
        &id,
        "device_code",
        "",
        &format!("refresh_token_file = \"{}\"\n", file.display()),
    );
    let relay = relay(&text).await;
    let (code, out) = relay.cli(&["oauth2", "login", "oauth"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("http://127.0.0.1:2980/device") && out.contains("WDJB-MJHT"),
        "{out}"
    );
    let rt = ts.client(&id).refresh_token.unwrap();
    assert!(std::fs::read_to_string(&file).unwrap().contains(&rt));
    let (_, status) = relay.cli(&["oauth2", "status"]);
    assert!(status.contains("refresh token   present"), "{status}");
    // And the relay now sends with it; the status then shows the access token's life.
    send(&relay).await;
    let (_, status) = relay.cli(&["oauth2", "status"]);
    assert!(status.contains("access token    expires 20"), "{status}");
    assert!(status.contains("last refresh    20"), "{status}");
}

#[tokio::test]
async fn no_token_or_secret_reaches_the_log() {
    let ts = TokenServer::get();
    let id = unique("cc-log");
    ts.register(&id, Duration::from_secs(60), None);
    let dir = scratch();
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n[spool]\ndir = \"{{dir}}/spool\"\n{}",
        upstream(
            dir.path(),
            &id,
            "client_credentials",
            "auth = \"xoauth2\"",
            ""
        )
    );
    let relay = common::BinaryRelay::start(&text, &[("RUST_LOG", "debug")]);
    let to = format!("{}@example.net", unique("log"));
    let (mut c, _) = Client::connect(relay.addr).await;
    let r = c
        .send(
            "<payroll@example.test>",
            &[&format!("<{to}>")],
            &common::message("log"),
        )
        .await;
    assert!(r.starts_with("250"), "{r}");
    Harness::get().wait_for(&to).await;
    relay.wait_log("OAuth2 access token refreshed").await;
    let log = relay.log();
    use base64::Engine;
    for token in ts.client(&id).issued {
        let blob = base64::engine::general_purpose::STANDARD
            .encode(format!("user={USER}\x01auth=Bearer {token}\x01\x01"));
        assert!(
            !log.contains(&token) && !log.contains(&blob),
            "token in the log:\n{log}"
        );
    }
    assert!(!log.contains(SECRET), "client secret in the log:\n{log}");
}

#[tokio::test]
async fn a_token_endpoint_that_fails_defers_the_mail_until_it_answers_again() {
    let ts = TokenServer::get();
    let id = unique("cc-down");
    ts.register(&id, Duration::from_secs(60), None);
    ts.update(&id, |c| c.fail_next = 1);
    let dir = scratch();
    let text = format!(
        "[retry]\nschedule = [\"1s\"]\n{}",
        upstream(dir.path(), &id, "client_credentials", "", "")
    );
    let relay = relay(&text).await;
    let to = format!("{}@example.net", unique("down"));
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send(
            "<payroll@example.test>",
            &[&format!("<{to}>")],
            &common::message("down"),
        )
        .await;
    assert!(r.starts_with("250"), "{r}");
    let reason = relay.first_deferral().await;
    assert!(
        reason.contains("token endpoint") && reason.contains("503"),
        "{reason}"
    );
    // The next attempt gets a token and the message goes.
    Harness::get().wait_for(&to).await;
    assert_eq!(ts.client(&id).token_requests, 2);
}
