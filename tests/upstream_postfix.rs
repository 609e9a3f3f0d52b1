//! Relaying to a real Postfix + Dovecot SASL upstream (tests/harness/) in every CONN and AUTH
//! mode. Each test sends one message to a unique recipient and reads what Postfix's sink got.

mod common;

use common::{Client, Harness, TestRelay, message, unique};

const USER: &str = "relay@example.test";

fn upstream(conn: &str, auth: &str, port: u16, password: &str) -> String {
    let h = Harness::get();
    format!(
        "[[upstream]]\nname = \"postfix\"\nhost = \"127.0.0.1\"\nport = {port}\nconn = \"{conn}\"\nauth = \"{auth}\"\n\
         username = \"{USER}\"\npassword = \"{password}\"\nca_file = \"{}\"\ntimeout = \"20s\"\n",
        h.ca()
    )
}

struct Expect {
    tls: bool,
    authenticated: bool,
}

/// Sends one message through a relay configured with `conn`/`auth`/`port` and checks the
/// sink: body byte-identical, TLS and AUTH visible in Postfix's Received: header.
async fn relays(conn: &str, auth: &str, port: u16, expect: Expect) {
    let h = Harness::get();
    let relay = TestRelay::start(&upstream(conn, auth, port, "secret"), "").await;
    let rcpt = format!("{}@example.net", unique(&format!("{conn}-{auth}-{port}")));
    let data = message(&unique("subject"));
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send("<payroll@example.test>", &[&format!("<{rcpt}>")], &data)
        .await;
    assert!(r.starts_with("250 2.0.0 Ok: queued as"), "{r}");

    let got = h.wait_for(&rcpt).await;
    let sent_body = &data[common::find(&data, b"\r\n\r\n").unwrap() + 4..];
    assert_eq!(got.body(), sent_body, "body must arrive byte-identical");
    let received = got.top_received();
    assert_eq!(
        received.contains("using TLS"),
        expect.tls,
        "TLS in {received}"
    );
    assert_eq!(
        received.contains(&format!("Authenticated sender: {USER}")),
        expect.authenticated,
        "AUTH in {received}"
    );
    relay
        .wait_queue("delivered message leaves the queue", |q| q.is_empty())
        .await;
}

const TLS_AUTH: Expect = Expect {
    tls: true,
    authenticated: true,
};

#[tokio::test]
async fn starttls_with_auth_plain_reaches_postfix() {
    relays("starttls", "plain", 2587, TLS_AUTH).await;
}

#[tokio::test]
async fn starttls_with_auth_login_reaches_postfix() {
    relays("starttls", "login", 2587, TLS_AUTH).await;
}

#[tokio::test]
async fn starttls_with_auth_cram_md5_reaches_postfix() {
    relays("starttls", "cram_md5", 2587, TLS_AUTH).await;
}

#[tokio::test]
async fn starttls_with_auth_auto_reaches_postfix() {
    relays("starttls", "auto", 2587, TLS_AUTH).await;
}

#[tokio::test]
async fn implicit_tls_with_auth_plain_reaches_postfix() {
    relays("ssl_tls", "plain", 2465, TLS_AUTH).await;
}

#[tokio::test]
async fn implicit_tls_with_auth_login_reaches_postfix() {
    relays("ssl_tls", "login", 2465, TLS_AUTH).await;
}

#[tokio::test]
async fn implicit_tls_with_auth_cram_md5_reaches_postfix() {
    relays("ssl_tls", "cram_md5", 2465, TLS_AUTH).await;
}

#[tokio::test]
async fn implicit_tls_with_auth_auto_reaches_postfix() {
    relays("ssl_tls", "auto", 2465, TLS_AUTH).await;
}

#[tokio::test]
async fn plaintext_without_auth_reaches_postfix() {
    relays(
        "plaintext",
        "none",
        2025,
        Expect {
            tls: false,
            authenticated: false,
        },
    )
    .await;
}

#[tokio::test]
async fn auto_on_the_submission_port_upgrades_with_starttls_and_authenticates() {
    relays("auto", "auto", 2587, TLS_AUTH).await;
}

#[tokio::test]
async fn auto_on_a_silent_port_detects_implicit_tls() {
    relays("auto", "auto", 2465, TLS_AUTH).await;
}

#[tokio::test]
async fn auto_remembers_what_it_detected_for_the_upstream() {
    use smarthost::upstream::connect::Detected;
    for (port, want) in [
        (2465, Detected::ImplicitTls),
        (2587, Detected::StartTls),
        (2025, Detected::Plaintext),
    ] {
        let relay = TestRelay::start(&upstream("auto", "auto", port, "secret"), "").await;
        let rcpt = format!("<{}@example.net>", unique("detect"));
        let (mut c, _) = Client::connect(relay.addr()).await;
        assert!(
            c.send("<payroll@example.test>", &[&rcpt], &message("detect"))
                .await
                .starts_with("250")
        );
        relay.wait_queue("delivered", |q| q.is_empty()).await;
        assert_eq!(
            relay.relay.delivery.detected("postfix"),
            Some(want),
            "port {port}"
        );
    }
}

#[tokio::test]
async fn upstream_certificate_from_an_unknown_ca_is_refused_and_the_mail_stays_queued() {
    // Same upstream, but without ca_file: the harness's self-signed certificate is not trusted.
    let up = upstream("starttls", "plain", 2587, "secret");
    let up: String = up
        .lines()
        .filter(|l| !l.starts_with("ca_file"))
        .map(|l| format!("{l}\n"))
        .collect();
    let relay = TestRelay::start(&up, "").await;
    let rcpt = format!("{}@example.net", unique("untrusted"));
    let (mut c, _) = Client::connect(relay.addr()).await;
    assert!(
        c.send(
            "<payroll@example.test>",
            &[&format!("<{rcpt}>")],
            &message("untrusted")
        )
        .await
        .starts_with("250")
    );
    let reply = relay.first_deferral().await;
    assert!(reply.contains("TLS handshake failed"), "{reply}");
    assert!(Harness::get().find(&rcpt).is_none());
}

#[tokio::test]
async fn auto_on_a_plain_port_without_starttls_or_auth_sends_in_clear_without_credentials() {
    relays(
        "auto",
        "auto",
        2025,
        Expect {
            tls: false,
            authenticated: false,
        },
    )
    .await;
}

#[tokio::test]
async fn wrong_password_keeps_the_mail_queued_with_the_servers_reply() {
    let relay = TestRelay::start(&upstream("starttls", "plain", 2587, "wrong-password"), "").await;
    let rcpt = format!("{}@example.net", unique("wrongpw"));
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send(
            "<payroll@example.test>",
            &[&format!("<{rcpt}>")],
            &message("wrong password"),
        )
        .await;
    assert!(r.starts_with("250"), "{r}");
    let q = relay
        .wait_queue("attempt recorded", |q| {
            q.first().is_some_and(|e| e.attempts >= 1)
        })
        .await;
    let (addr, state) = &q[0].rcpts[0];
    assert_eq!(addr, &rcpt);
    let smarthost::spool::RcptState::Pending {
        last_reply: Some(reply),
    } = state
    else {
        panic!("recipient must stay pending, got {state:?}")
    };
    assert!(reply.contains("535"), "{reply}");
    assert!(Harness::get().find(&rcpt).is_none());
}

#[tokio::test]
async fn one_rejected_recipient_does_not_stop_the_others() {
    let h = Harness::get();
    let relay = TestRelay::start(&upstream("plaintext", "none", 2025, "secret"), "").await;
    let good = format!("{}@example.net", unique("good"));
    let bad = format!("{}@example.net", unique("reject"));
    let later = format!("{}@example.net", unique("tempfail"));
    let (mut c, _) = Client::connect(relay.addr()).await;
    let rcpts = [
        format!("<{bad}>"),
        format!("<{good}>"),
        format!("<{later}>"),
    ];
    let rcpts: Vec<&str> = rcpts.iter().map(String::as_str).collect();
    assert!(
        c.send("<payroll@example.test>", &rcpts, &message("mixed"))
            .await
            .starts_with("250")
    );
    h.wait_for(&good).await;
    let q = relay
        .wait_queue("results recorded", |q| {
            q.first().is_some_and(|e| e.attempts >= 1)
        })
        .await;
    use smarthost::spool::RcptState;
    let state = |a: &str| q[0].rcpts.iter().find(|(r, _)| r == a).unwrap().1.clone();
    assert!(matches!(state(&bad), RcptState::Failed { reply } if reply.contains("550")));
    assert!(matches!(state(&good), RcptState::Delivered { .. }));
    assert!(
        matches!(state(&later), RcptState::Pending { last_reply: Some(r) } if r.contains("451"))
    );
}

#[tokio::test]
async fn dsn_parameters_from_the_client_reach_the_sink_unchanged() {
    let h = Harness::get();
    let relay = TestRelay::start(&upstream("starttls", "plain", 2587, "secret"), "").await;
    let rcpt = format!("{}@example.net", unique("dsn"));
    let (mut c, _) = Client::connect(relay.addr()).await;
    assert!(c.cmd("EHLO client.test").await.contains("DSN"));
    assert!(
        c.cmd("MAIL FROM:<payroll@example.test> RET=HDRS ENVID=payroll+2B2026-11")
            .await
            .starts_with("250")
    );
    let r = c
        .cmd(&format!(
            "RCPT TO:<{rcpt}> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig+2Bbox@example.net"
        ))
        .await;
    assert!(r.starts_with("250"), "{r}");
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.raw(&smarthost::upstream::dot_stuff(&message("dsn")))
        .await;
    assert!(c.reply().await.starts_with("250"));

    let got = h.wait_for(&rcpt).await;
    let mail = got.mail_params();
    assert!(mail.contains(&"RET=HDRS".to_string()), "{mail:?}");
    assert!(
        mail.contains(&"ENVID=payroll+2B2026-11".to_string()),
        "{mail:?}"
    );
    let params = got.rcpt_params(&rcpt);
    assert!(
        params.contains(&"NOTIFY=SUCCESS,FAILURE".to_string()),
        "{params:?}"
    );
    assert!(
        params.contains(&"ORCPT=rfc822;orig+2Bbox@example.net".to_string()),
        "{params:?}"
    );
}

#[tokio::test]
async fn null_sender_is_relayed_with_an_empty_reverse_path() {
    let h = Harness::get();
    let relay = TestRelay::start(&upstream("plaintext", "none", 2025, "secret"), "").await;
    let rcpt = format!("{}@example.net", unique("nullsender"));
    let (mut c, _) = Client::connect(relay.addr()).await;
    assert!(
        c.send("<>", &[&format!("<{rcpt}>")], &message("bounce-like"))
            .await
            .starts_with("250")
    );
    let got = h.wait_for(&rcpt).await;
    assert_eq!(got.json["mail_from"], "");
}

#[tokio::test]
async fn upstream_notify_default_applies_to_recipients_that_came_without_one() {
    let h = Harness::get();
    let up = format!(
        "{}notify = \"FAILURE,DELAY\"\n",
        upstream("plaintext", "none", 2025, "secret")
    );
    let relay = TestRelay::start(&up, "").await;
    let plain = format!("{}@example.net", unique("notify-default"));
    let own = format!("{}@example.net", unique("notify-own"));
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send(
            "<payroll@example.test>",
            &[&format!("<{plain}>"), &format!("<{own}> NOTIFY=NEVER")],
            &message("notify"),
        )
        .await;
    assert!(r.starts_with("250"), "{r}");
    let got = h.wait_for(&plain).await;
    assert!(
        got.rcpt_params(&plain)
            .contains(&"NOTIFY=FAILURE,DELAY".to_string()),
        "{:?}",
        got.json
    );
    assert!(
        got.rcpt_params(&own).contains(&"NOTIFY=NEVER".to_string()),
        "{:?}",
        got.json
    );
}
