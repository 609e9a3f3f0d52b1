//! Hostile input proved at the real Postfix sink (issue 18, findings 1, 2, 3, 5 and 10): each test
//! sends through a relay whose upstream is the Postfix on the plain port 2025 (tests/harness/)
//! and reads what the sink got, with unique addresses so tests run in parallel with others.

mod common;

use std::time::Duration;

use common::{Client, Harness, TestRelay, header, unique};

fn postfix(extra: &str) -> String {
    format!(
        "{extra}\n[[upstream]]\nname = \"postfix\"\nhost = \"127.0.0.1\"\nport = 2025\n\
         conn = \"plaintext\"\nauth = \"none\"\ntimeout = \"20s\"\n"
    )
}

/// EHLO, MAIL, RCPT `rcpt`, DATA, then `raw` exactly as given; returns the final reply.
async fn send_raw(relay: &TestRelay, rcpt: &str, raw: &[u8]) -> String {
    let (mut c, _) = Client::connect(relay.addr()).await;
    assert!(c.cmd("EHLO client.test").await.starts_with("250"));
    assert!(
        c.cmd("MAIL FROM:<app@example.test>")
            .await
            .starts_with("250")
    );
    let r = c.cmd(&format!("RCPT TO:<{rcpt}>")).await;
    assert!(r.starts_with("250"), "{r}");
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.raw(raw).await;
    c.reply().await
}

fn assert_crlf_only(data: &[u8]) {
    for (i, b) in data.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(data.get(i + 1), Some(&b'\n'), "bare CR at {i}"),
            b'\n' => assert!(i > 0 && data[i - 1] == b'\r', "bare LF at {i}"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn a_smuggled_second_transaction_reaches_the_sink_only_as_content_of_the_first() {
    let h = Harness::get();
    let relay = TestRelay::start(&postfix(""), "").await;
    let (first, smuggled) = (
        format!("{}@example.net", unique("carrier")),
        format!("{}@example.net", unique("smuggled")),
    );
    let raw = format!(
        "Subject: carrier\r\n\r\nhi\r\n.\r\r\nMAIL FROM:<ceo@example.test>\r\nRCPT TO:<{smuggled}>\r\n\
         DATA\r\nSubject: evil\r\n\r\nevil\r\n.\r\n"
    );
    let r = send_raw(&relay, &first, raw.as_bytes()).await;
    assert!(r.starts_with("250"), "{r}");
    let got = h.wait_for(&first).await;
    let body = String::from_utf8_lossy(got.body()).into_owned();
    assert!(
        body.contains(&format!("RCPT TO:<{smuggled}>\r\n")),
        "{body:?}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        h.find(&smuggled).is_none(),
        "the smuggled message was relayed"
    );
}

#[tokio::test]
async fn bare_cr_and_bare_lf_reach_the_sink_as_crlf() {
    let h = Harness::get();
    let relay = TestRelay::start(&postfix(""), "").await;
    let rcpt = format!("{}@example.net", unique("bare"));
    let raw = b"Subject: bare\r\n\r\nline\r.\r\nMAIL FROM:<x@example.test>\r\nbare\nlf\r\n.\r\n";
    assert!(send_raw(&relay, &rcpt, raw).await.starts_with("250"));
    let got = h.wait_for(&rcpt).await;
    assert_crlf_only(&got.data);
    assert_eq!(
        got.body(),
        b"line\r\n.\r\nMAIL FROM:<x@example.test>\r\nbare\r\nlf\r\n"
    );
}

#[tokio::test]
async fn a_quoted_local_part_reaches_the_sink_quoted_and_an_injection_is_refused() {
    let h = Harness::get();
    let relay = TestRelay::start(&postfix(""), "").await;
    let rcpt = format!("\"{}@inner\"@example.net", unique("quoted"));
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send(
            "<app@example.test>",
            &[&format!("<{rcpt}>")],
            b"Subject: q\r\n\r\nq\r\n",
        )
        .await;
    assert!(r.starts_with("250"), "{r}");
    let got = h.wait_for(&rcpt).await;
    // Postfix adds its own ORCPT with the address as it got it: nothing else, nothing split.
    let params = got.rcpt_params(&rcpt);
    assert!(
        params.iter().all(|p| *p == format!("ORCPT=rfc822;{rcpt}")),
        "{params:?}"
    );
    let (mut c, _) = Client::connect(relay.addr()).await;
    assert!(c.cmd("EHLO c").await.starts_with("250"));
    assert!(
        c.cmd("MAIL FROM:<app@example.test>")
            .await
            .starts_with("250")
    );
    let r = c
        .cmd("RCPT TO:<\"victim@example.net> ORCPT=rfc822;x\"@example.net>")
        .await;
    assert!(r.starts_with("553 5.1.3"), "{r}");
}

#[tokio::test]
async fn a_from_list_is_rewritten_to_the_one_rewrite_address_at_the_sink() {
    let h = Harness::get();
    let relay = TestRelay::start(&postfix("[rewrite]\nfrom = \"payroll@probe.test\"\n"), "").await;
    let rcpt = format!("<{}@example.net>", unique("fromlist"));
    let (mut c, _) = Client::connect(relay.addr()).await;
    let msg = b"From: \"CEO\" <ceo@victim.test>, <app@probe.test>\r\nSubject: list\r\n\r\nhi\r\n";
    let r = c.send("<app@probe.test>", &[&rcpt], msg).await;
    assert!(r.starts_with("250"), "{r}");
    let got = h.wait_for(rcpt.trim_matches(['<', '>'])).await;
    let from = header(&got.headers(), "From").unwrap_or_default();
    assert_eq!(from, "CEO <payroll@probe.test>");
}

#[tokio::test]
async fn crlf_in_envid_or_orcpt_is_refused_and_the_bounce_at_the_sink_has_only_its_own_lines() {
    let h = Harness::get();
    let relay = TestRelay::start(&postfix(""), "").await;
    let sender = format!("{}@example.net", unique("dsn-sender"));
    let bad = format!("reject-{}@example.net", unique("dsn"));
    let (mut c, _) = Client::connect(relay.addr()).await;
    assert!(c.cmd("EHLO c").await.starts_with("250"));
    let injected =
        format!("MAIL FROM:<{sender}> ENVID=x+0D+0AX-Injected:+20yes+0D+0AAction:+20delivered");
    let r = c.cmd(&injected).await;
    assert!(r.starts_with("501"), "{r}");
    let r = c.cmd(&format!("MAIL FROM:<{sender}> ENVID=legit-1")).await;
    assert!(r.starts_with("250"), "{r}");
    let r = c
        .cmd(&format!(
            "RCPT TO:<{bad}> ORCPT=rfc822;{bad}+0D+0AAction:+20delivered"
        ))
        .await;
    assert!(r.starts_with("501"), "{r}");
    let r = c.cmd(&format!("RCPT TO:<{bad}> NOTIFY=FAILURE")).await;
    assert!(r.starts_with("250"), "{r}");
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.raw(b"Subject: dsn\r\n\r\nhi\r\n.\r\n").await;
    assert!(c.reply().await.starts_with("250"));
    let bounce = h.wait_for(&sender).await;
    let text = String::from_utf8_lossy(&bounce.data).into_owned();
    assert!(text.contains("Original-Envelope-Id: legit-1\r\n"), "{text}");
    for line in text.split("\r\n") {
        assert!(!line.starts_with("X-Injected"), "{text}");
        assert!(
            !line.starts_with("Action:") || line == "Action: failed",
            "{text}"
        );
    }
}
