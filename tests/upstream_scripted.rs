//! Upstream behaviour Postfix cannot show: NTLM and XOAUTH2 exchanges checked by an in-process
//! scripted server, and a server that hangs after the message data.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::TestRelay;
use common::scripted::*;
use hmac::{Hmac, Mac};

// === NTLM ===

const NTLM_CHALLENGE: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

/// Checks an NTLMv2 type-3 message the way a server does: recompute NTProofStr from the
/// password it knows (MS-NLMP 3.3.2).
fn ntlm_server(auth_line: &str, lines: &[String]) -> Result<String, String> {
    let mut parts = auth_line.split_whitespace().skip(2);
    let type1 = parts.next().ok_or("no initial response")?;
    let type1 = B64.decode(type1).map_err(|_| "type 1 not base64")?;
    if &type1[..8] != b"NTLMSSP\0" || type1[8] != 1 {
        return Err("first message is not NTLM type 1".into());
    }
    let Some(answer) = lines.first() else {
        let challenge = ntlmclient::Message::Challenge(ntlmclient::ChallengeMessage {
            target_name: "CORP".into(),
            flags: ntlmclient::Flags::NEGOTIATE_UNICODE | ntlmclient::Flags::NEGOTIATE_NTLM,
            challenge: NTLM_CHALLENGE,
            context: (0, 0),
            target_information: Vec::new(),
            os_version: Default::default(),
        })
        .to_bytes()
        .unwrap();
        return Err(format!("334 {}", B64.encode(challenge)));
    };
    let type3 = B64.decode(answer).map_err(|_| "type 3 not base64")?;
    let ntlmclient::Message::Authenticate(a) =
        ntlmclient::Message::try_from(type3.as_slice()).map_err(|e| format!("{e:?}"))?
    else {
        return Err("not a type 3 message".into());
    };
    use md4::Digest;
    let nt_hash = md4::Md4::digest(utf16("Secret1"));
    let mut mac = Hmac::<md5::Md5>::new_from_slice(&nt_hash).unwrap();
    mac.update(&utf16(&format!(
        "{}{}",
        a.user_name.to_uppercase(),
        a.domain_name
    )));
    let ntowf = mac.finalize().into_bytes();
    let (proof, blob) = a.ntlm_response.split_at(16);
    let mut mac = Hmac::<md5::Md5>::new_from_slice(&ntowf).unwrap();
    mac.update(&NTLM_CHALLENGE);
    mac.update(blob);
    if mac.verify_slice(proof).is_err() {
        return Err("NTProofStr does not match the password".into());
    }
    Ok(format!("{}\\{}", a.domain_name, a.user_name))
}

#[tokio::test]
async fn ntlm_exchange_is_accepted_by_a_server_that_checks_the_ntlmv2_proof() {
    let (port, mut seen) = scripted_server("NTLM", ntlm_server, AfterData::Accept).await;
    let relay = TestRelay::start(
        &upstream(
            port,
            "ntlm",
            r"CORP\svc_relay",
            "password = \"Secret1\"",
            "10s",
        ),
        "",
    )
    .await;
    send_one(&relay).await;
    match next(&mut seen).await {
        Seen::AuthOk(id) => assert_eq!(id, r"CORP\svc_relay"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(next(&mut seen).await, Seen::Message(_)));
    relay.wait_queue("delivered", |q| q.is_empty()).await;
}

#[tokio::test]
async fn ntlm_with_a_wrong_password_keeps_the_mail_queued() {
    let (port, mut seen) = scripted_server("NTLM", ntlm_server, AfterData::Accept).await;
    let relay = TestRelay::start(
        &upstream(
            port,
            "ntlm",
            r"CORP\svc_relay",
            "password = \"nope\"",
            "10s",
        ),
        "",
    )
    .await;
    send_one(&relay).await;
    assert!(matches!(next(&mut seen).await, Seen::AuthRejected(r) if r.contains("NTProofStr")));
    let r = relay.first_deferral().await;
    assert!(r.contains("535"), "{r}");
}

// === XOAUTH2 ===

fn xoauth2_server(auth_line: &str, lines: &[String]) -> Result<String, String> {
    let blob = auth_line
        .split_whitespace()
        .nth(2)
        .ok_or("no initial response")?;
    let decoded =
        String::from_utf8(B64.decode(blob).map_err(|_| "not base64")?).map_err(|_| "not UTF-8")?;
    if decoded == "user=payroll@example.test\x01auth=Bearer ya29.token-123\x01\x01" {
        return Ok("payroll@example.test".into());
    }
    // RFC 7628 / Google: an error is a 334 with a base64 JSON status; the client must answer
    // with an empty line before the final 535.
    match lines.first() {
        None => Err(format!(
            "334 {}",
            B64.encode(r#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#)
        )),
        Some(l) if l.is_empty() => {
            Err("bad token; client answered the error challenge correctly".into())
        }
        Some(l) => Err(format!(
            "client answered the error challenge with {l:?} instead of an empty line"
        )),
    }
}

#[tokio::test]
async fn xoauth2_sends_the_bearer_token_read_from_password_file() {
    let (port, mut seen) =
        scripted_server("XOAUTH2 PLAIN", xoauth2_server, AfterData::Accept).await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "ya29.token-123\n").unwrap();
    let secret = format!("password_file = \"{}\"", token.display());
    let relay = TestRelay::start(
        &upstream(port, "xoauth2", "payroll@example.test", &secret, "10s"),
        "",
    )
    .await;
    send_one(&relay).await;
    assert!(matches!(next(&mut seen).await, Seen::AuthOk(id) if id == "payroll@example.test"));
    assert!(matches!(next(&mut seen).await, Seen::Message(_)));
}

#[tokio::test]
async fn xoauth2_error_challenge_is_answered_with_an_empty_line_and_mail_stays_queued() {
    let (port, mut seen) = scripted_server("XOAUTH2", xoauth2_server, AfterData::Accept).await;
    let relay = TestRelay::start(
        &upstream(
            port,
            "xoauth2",
            "payroll@example.test",
            "password = \"expired\"",
            "10s",
        ),
        "",
    )
    .await;
    send_one(&relay).await;
    match next(&mut seen).await {
        Seen::AuthRejected(r) => {
            assert!(r.contains("answered the error challenge correctly"), "{r}")
        }
        other => panic!("{other:?}"),
    }
    let r = relay.first_deferral().await;
    assert!(r.contains("535"), "{r}");
}

// === Faults ===

#[tokio::test]
async fn server_hanging_after_the_data_times_out_and_the_mail_stays_queued() {
    let (port, _seen) = scripted_server("PLAIN", accept_plain, AfterData::Hang).await;
    let relay = TestRelay::start(&upstream(port, "none", "u", "password = \"p\"", "1s"), "").await;
    send_one(&relay).await;
    let r = relay.first_deferral().await;
    assert!(r.contains("timed out during end of DATA"), "{r}");
}

#[tokio::test]
async fn unreachable_upstream_keeps_the_mail_queued() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let relay = TestRelay::start(&upstream(port, "none", "u", "password = \"p\"", "2s"), "").await;
    send_one(&relay).await;
    let r = relay.first_deferral().await;
    assert!(r.contains("cannot connect"), "{r}");
}

#[tokio::test]
async fn credentials_are_never_sent_in_clear_when_conn_is_auto() {
    let (port, mut seen) = scripted_server("PLAIN LOGIN", accept_plain, AfterData::Accept).await;
    let up = upstream(port, "plain", "u", "password = \"p\"", "10s")
        .replace("conn = \"plaintext\"", "conn = \"auto\"");
    let relay = TestRelay::start(&up, "").await;
    send_one(&relay).await;
    let r = relay.first_deferral().await;
    assert!(r.contains("unencrypted"), "{r}");
    while let Ok(s) = seen.try_recv() {
        assert!(
            matches!(s, Seen::Connection | Seen::Open(_)),
            "the server must not have seen any AUTH: {s:?}"
        );
    }
}

#[tokio::test]
async fn one_connection_carries_successive_messages() {
    let (port, mut seen) = scripted_server("PLAIN", accept_plain, AfterData::Accept).await;
    let relay = TestRelay::start(&upstream(port, "none", "u", "password = \"p\"", "10s"), "").await;
    for _ in 0..3 {
        send_one(&relay).await;
        relay.wait_queue("delivered", |q| q.is_empty()).await;
    }
    let mut connections = 0;
    let mut messages = 0;
    while let Ok(s) = seen.try_recv() {
        match s {
            Seen::Connection => connections += 1,
            Seen::Message(_) => messages += 1,
            _ => {}
        }
    }
    assert_eq!((connections, messages), (1, 3));
}

/// Retry quickly, so the second attempt comes within a test's patience.
const FAST_RETRY: &str = "[retry]\nschedule = [\"1s\"]\n";

#[tokio::test]
async fn a_connection_lost_mid_message_is_retried_and_delivered() {
    let (port, mut seen) = scripted_server("PLAIN", accept_plain, AfterData::DropFirst).await;
    let up = format!(
        "{FAST_RETRY}{}",
        upstream(port, "none", "u", "password = \"p\"", "5s")
    );
    let relay = TestRelay::start(&up, "").await;
    send_one(&relay).await;
    assert!(matches!(next(&mut seen).await, Seen::Message(_)));
    let q = relay
        .wait_queue("delivered on the second attempt", |q| q.is_empty())
        .await;
    assert!(q.is_empty());
}

#[tokio::test]
async fn a_451_at_the_end_of_data_is_retried_and_then_delivered() {
    let (port, mut seen) = scripted_server("PLAIN", accept_plain, AfterData::TempFailFirst).await;
    let up = format!(
        "{FAST_RETRY}{}",
        upstream(port, "none", "u", "password = \"p\"", "5s")
    );
    let relay = TestRelay::start(&up, "").await;
    send_one(&relay).await;
    assert!(matches!(next(&mut seen).await, Seen::Message(_)));
    relay
        .wait_queue("delivered on the second attempt", |q| q.is_empty())
        .await;
}

#[tokio::test]
async fn mail_queued_while_the_upstream_was_down_goes_out_when_it_comes_back() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let up = format!(
        "{FAST_RETRY}{}",
        upstream(port, "none", "u", "password = \"p\"", "2s")
    );
    let relay = TestRelay::start(&up, "").await;
    for _ in 0..3 {
        send_one(&relay).await;
    }
    relay
        .wait_queue("all three tried and deferred", |q| {
            q.len() == 3 && q.iter().all(|e| e.attempts >= 1)
        })
        .await;
    // The upstream comes back on the same port.
    let (_port, mut seen) =
        scripted_server_on(port, "PLAIN", accept_plain, AfterData::Accept).await;
    relay
        .wait_queue("everything delivered", |q| q.is_empty())
        .await;
    let mut messages = 0;
    while let Ok(s) = seen.try_recv() {
        messages += matches!(s, Seen::Message(_)) as usize;
    }
    assert_eq!(messages, 3);
}
