//! OAuth2 grants for XOAUTH2 and OAUTHBEARER, against real parts: the Postfix harness's port
//! 2589, whose Dovecot accepts a token only when the token service says it is active (RFC 7662
//! introspection), and a token service in this test binary (tests/common/token_server.rs) that
//! issues tokens living a few seconds, rotates refresh tokens and fails on demand.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::token_server::{self, SECRET, TokenServer, USER};
use common::{Client, Harness, TestRelay, unique};
use smarthost::spool::RcptState;

/// A client of the token service with its own scratch directory: the client secret file and,
/// for refresh-token flows, the grant file.
struct Grant {
    id: String,
    dir: tempfile::TempDir,
    file: PathBuf,
}

impl Grant {
    /// Registers a client named after `prefix` whose tokens live `lifetime`; `refresh_token`
    /// is the one it starts with, also written to the grant file as an admin would paste it.
    fn new(prefix: &str, lifetime: Duration, refresh_token: Option<&str>) -> Grant {
        let id = unique(prefix);
        TokenServer::get().register(&id, lifetime, refresh_token);
        let dir = tempfile::Builder::new()
            .prefix("smarthost-oauth2-")
            .tempdir()
            .unwrap();
        std::fs::write(dir.path().join("client-secret.txt"), SECRET).unwrap();
        let file = dir.path().join("grant.json");
        if let Some(rt) = refresh_token {
            std::fs::write(&file, format!("{rt}\n")).unwrap();
        }
        Grant { id, dir, file }
    }

    fn client(&self) -> token_server::Client {
        TokenServer::get().client(&self.id)
    }

    /// An upstream `oauth` on the harness's OAuth2 port with this grant; `auth` is an extra
    /// line for the upstream (e.g. `auth = "xoauth2"`), `top` top-level tables before it.
    fn config(&self, flow: &str, auth: &str, top: &str) -> String {
        format!(
            "{top}[[upstream]]\nname = \"oauth\"\nhost = \"127.0.0.1\"\nport = 2589\nconn = \"starttls\"\n\
             ca_file = \"{ca}\"\nusername = \"{USER}\"\ntimeout = \"20s\"\n{auth}\n\
             [upstream.oauth2]\nflow = \"{flow}\"\ntoken_url = \"{token}\"\n\
             device_code_url = \"{device}\"\nclient_id = \"{id}\"\n\
             client_secret_file = \"{secret}\"\nscope = \"smtp\"\nrefresh_token_file = \"{file}\"\n",
            ca = Harness::get().ca(),
            token = TokenServer::url("/token"),
            device = TokenServer::url("/devicecode"),
            id = self.id,
            secret = self.dir.path().join("client-secret.txt").display(),
            file = self.file.display(),
        )
    }

    async fn relay(&self, flow: &str, auth: &str) -> TestRelay {
        TestRelay::start(&self.config(flow, auth, ""), "").await
    }
}

/// Hands one message to the relay (250 expected) and returns its recipient.
async fn submit(relay: &TestRelay) -> String {
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
    to
}

/// Sends one message and waits until Postfix's sink has it.
async fn send(relay: &TestRelay) -> common::SinkMessage {
    let to = submit(relay).await;
    Harness::get().wait_for(&to).await
}

#[tokio::test]
async fn client_credentials_with_xoauth2_deliver_through_a_server_that_checks_the_token() {
    let g = Grant::new("cc-xoauth2", Duration::from_secs(60), None);
    let relay = g.relay("client_credentials", "auth = \"xoauth2\"").await;
    let got = send(&relay).await;
    let received = got.top_received();
    assert!(received.contains("ESMTPSA"), "{received}");
    let c = g.client();
    assert_eq!(c.token_requests, 1);
    assert_eq!((c.introspected_active, c.introspected_inactive), (1, 0));
}

#[tokio::test]
async fn oauthbearer_delivers_too() {
    let g = Grant::new("cc-bearer", Duration::from_secs(60), None);
    let relay = g
        .relay("client_credentials", "auth = \"oauthbearer\"")
        .await;
    send(&relay).await;
    assert_eq!(g.client().introspected_active, 1);
}

#[tokio::test]
async fn auth_auto_picks_xoauth2_when_a_grant_is_configured() {
    let g = Grant::new("cc-auto", Duration::from_secs(60), None);
    let relay = g.relay("client_credentials", "").await;
    let to = format!("{}@example.net", unique("auto"));
    let (code, out) = relay.cli(&["send-test", "--upstream", "oauth", "--to", &to]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("XOAUTH2"),
        "the trace names the mechanism:\n{out}"
    );
    assert!(out.contains("235"), "{out}");
}

#[tokio::test]
async fn concurrent_deliveries_share_one_token_request() {
    let g = Grant::new("cc-shared", Duration::from_secs(60), None);
    let relay = g.relay("client_credentials", "").await;
    futures::future::join_all((0..8).map(|_| send(&relay))).await;
    assert_eq!(g.client().token_requests, 1);
}

#[tokio::test]
async fn tokens_are_renewed_before_they_expire_while_mail_keeps_coming() {
    // Two-second tokens; the relay never reuses a connection idle for 5 s, so each burst below
    // opens a new connection and logs in again, long after the previous token expired.
    let g = Grant::new("cc-renew", Duration::from_secs(2), None);
    let relay = g.relay("client_credentials", "").await;
    for burst in 0..3 {
        if burst > 0 {
            tokio::time::sleep(Duration::from_millis(5600)).await;
        }
        futures::future::join_all((0..3).map(|_| send(&relay))).await;
    }
    let c = g.client();
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
    let g = Grant::new("cc-refused", Duration::from_secs(300), None);
    let relay = g.relay("client_credentials", "auth = \"xoauth2\"").await;
    send(&relay).await;
    // The provider revokes the token early; the relay still believes it has 5 minutes left.
    TokenServer::get().forget_tokens(&g.id);
    tokio::time::sleep(Duration::from_millis(5600)).await;
    send(&relay).await;
    let c = g.client();
    assert_eq!(c.introspected_inactive, 1, "the old token was tried once");
    assert_eq!(c.token_requests, 2, "then exactly one new token");
}

#[tokio::test]
async fn a_rotated_refresh_token_is_saved_and_used_after_a_restart() {
    use std::os::unix::fs::PermissionsExt;
    let g = Grant::new("rt-rotate", Duration::from_secs(300), Some("rt-initial"));
    let relay = g.relay("refresh_token", "").await;
    send(&relay).await;
    let rotated = g.client().refresh_token.unwrap();
    assert_ne!(rotated, "rt-initial");
    let saved = std::fs::read_to_string(&g.file).unwrap();
    assert!(
        saved.contains(&rotated),
        "the new refresh token is on disk: {saved}"
    );
    let mode = std::fs::metadata(&g.file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // A new process has no access token: it must refresh with the rotated token (the server
    // refuses the initial one now).
    let relay = relay.restart().await;
    send(&relay).await;
    assert_eq!(g.client().refreshes, 2);
}

#[tokio::test]
async fn a_revoked_grant_keeps_the_mail_queued_and_says_what_to_do() {
    let g = Grant::new("rt-revoked", Duration::from_secs(300), Some("rt-initial"));
    TokenServer::get().update(&g.id, |c| c.revoked = true);
    let relay = g.relay("refresh_token", "").await;
    submit(&relay).await;
    let reason = relay.first_deferral().await;
    let fix = format!("put a new refresh token in {}", g.file.display());
    assert!(reason.contains(&fix), "{reason}");
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
    // send-test names the problem and the fix in words.
    let (code, out) = relay.cli(&["send-test", "--upstream", "oauth", "--no-send"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("grant_missing") && out.contains("refresh_token_file"),
        "{out}"
    );
}

#[tokio::test]
async fn oauth2_login_runs_the_device_flow_and_stores_the_refresh_token_in_the_spool() {
    use std::os::unix::fs::PermissionsExt;
    let g = Grant::new("device", Duration::from_secs(300), None);
    // The person signs in after two polls.
    TokenServer::get().update(&g.id, |c| c.pending_polls = 2);
    // No refresh_token_file: the token goes to the spool directory.
    let text = g.config("device_code", "", "").replace(
        &format!("refresh_token_file = \"{}\"\n", g.file.display()),
        "",
    );
    let relay = TestRelay::start(&text, "").await;
    let (code, out) = relay.cli(&["oauth2", "login", "oauth"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("http://127.0.0.1:2980/device") && out.contains("WDJB-MJHT"),
        "{out}"
    );
    let file = relay.dir.path().join("spool/oauth2-oauth.json");
    let rt = g.client().refresh_token.unwrap();
    assert!(std::fs::read_to_string(&file).unwrap().contains(&rt));
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
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
    use base64::Engine;
    let g = Grant::new("cc-log", Duration::from_secs(60), None);
    let text = g.config(
        "client_credentials",
        "auth = \"xoauth2\"",
        "[server]\nlisten = [\"127.0.0.1:0\"]\n[spool]\ndir = \"{dir}/spool\"\n",
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
    for token in g.client().issued {
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
    let g = Grant::new("cc-down", Duration::from_secs(60), None);
    TokenServer::get().update(&g.id, |c| c.fail_next = 1);
    let text = g.config("client_credentials", "", "[retry]\nschedule = [\"1s\"]\n");
    let relay = TestRelay::start(&text, "").await;
    let to = submit(&relay).await;
    let reason = relay.first_deferral().await;
    assert!(
        reason.contains("token endpoint") && reason.contains("503"),
        "{reason}"
    );
    // The next attempt gets a token and the message goes.
    Harness::get().wait_for(&to).await;
    assert_eq!(g.client().token_requests, 2);
}
