//! Upstream behaviour Postfix cannot show: NTLM and XOAUTH2 exchanges checked by an in-process
//! scripted server, and a server that hangs after the message data.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::{Client, TestRelay, message, unique};
use hmac::{Hmac, Mac};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// What the scripted server observed.
#[derive(Debug)]
#[allow(dead_code)] // payloads are for failure messages
enum Seen {
    Connection,
    /// Connections open at the same time, counted at each new one.
    Open(usize),
    /// Recipients in the transaction that just ended.
    Transaction(usize),
    /// When a message was accepted.
    At(std::time::Instant),
    AuthOk(String),
    AuthRejected(String),
    Message(Vec<u8>),
}

/// Counts a connection as closed when its task ends, however it ends.
struct OpenGuard(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum AfterData {
    Accept,
    Hang,
    DropFirst,
    TempFailFirst,
}

type Auth = fn(&str, &[String]) -> Result<String, String>;

/// A scripted SMTP server: advertises `mechs`, lets `auth` drive the AUTH exchange (it gets the
/// AUTH line and the client's later lines, returns the authenticated identity or a reason), and
/// then treats the message as `after_data` says.
async fn scripted_server(
    mechs: &'static str,
    auth: Auth,
    after_data: AfterData,
) -> (u16, mpsc::UnboundedReceiver<Seen>) {
    scripted_server_on(0, mechs, auth, after_data).await
}

async fn scripted_server_on(
    port: u16,
    mechs: &'static str,
    auth: Auth,
    after_data: AfterData,
) -> (u16, mpsc::UnboundedReceiver<Seen>) {
    let l = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let open = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            let _ = tx.send(Seen::Connection);
            let _ = tx.send(Seen::Open(
                open.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1,
            ));
            let tx = tx.clone();
            let answered = answered.clone();
            let open = open.clone();
            tokio::spawn(async move {
                let _open = OpenGuard(open);
                let mut rcpts = 0;
                let (r, mut w) = tokio::io::split(s);
                let mut r = BufReader::new(r);
                let mut line = String::new();
                let _ = w.write_all(b"220 scripted ESMTP\r\n").await;
                let mut challenge_lines: Vec<String> = Vec::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let cmd = line.trim_end().to_string();
                    let upper = cmd.to_ascii_uppercase();
                    let answer: String = if upper.starts_with("EHLO") {
                        format!("250-scripted\r\n250-AUTH {mechs}\r\n250 8BITMIME\r\n")
                    } else if upper.starts_with("AUTH ") {
                        // Drive the exchange: each step may need more client lines.
                        challenge_lines.clear();
                        let mut result = auth(&cmd, &challenge_lines);
                        while let Err(reason) = &result {
                            if let Some(challenge) = reason.strip_prefix("334 ") {
                                w.write_all(format!("334 {challenge}\r\n").as_bytes())
                                    .await
                                    .unwrap();
                                line.clear();
                                r.read_line(&mut line).await.unwrap();
                                challenge_lines.push(line.trim_end().to_string());
                                result = auth(&cmd, &challenge_lines);
                            } else {
                                break;
                            }
                        }
                        match result {
                            Ok(id) => {
                                let _ = tx.send(Seen::AuthOk(id));
                                "235 2.7.0 Authentication successful\r\n".into()
                            }
                            Err(reason) => {
                                let _ = tx.send(Seen::AuthRejected(reason));
                                "535 5.7.8 Error: authentication failed\r\n".into()
                            }
                        }
                    } else if upper.starts_with("MAIL") {
                        rcpts = 0;
                        "250 2.0.0 ok\r\n".into()
                    } else if upper.starts_with("RCPT") {
                        rcpts += 1;
                        "250 2.0.0 ok\r\n".into()
                    } else if upper.starts_with("DATA") {
                        w.write_all(b"354 go ahead\r\n").await.unwrap();
                        let mut data = Vec::new();
                        loop {
                            line.clear();
                            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if line == ".\r\n" {
                                break;
                            }
                            data.extend_from_slice(line.as_bytes());
                        }
                        let first = !answered.swap(true, std::sync::atomic::Ordering::SeqCst);
                        match after_data {
                            // Say nothing, keep the socket open.
                            AfterData::Hang => std::future::pending::<String>().await,
                            // The first message: the connection drops before the final reply.
                            AfterData::DropFirst if first => return,
                            AfterData::TempFailFirst if first => {
                                "451 4.3.0 try again later\r\n".into()
                            }
                            _ => {
                                let _ = tx.send(Seen::Transaction(rcpts));
                                let _ = tx.send(Seen::At(std::time::Instant::now()));
                                let _ = tx.send(Seen::Message(data));
                                "250 2.0.0 queued\r\n".into()
                            }
                        }
                    } else if upper.starts_with("QUIT") {
                        let _ = w.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        "250 2.0.0 ok\r\n".into()
                    };
                    w.write_all(answer.as_bytes()).await.unwrap();
                }
            });
        }
    });
    (port, rx)
}

/// The next thing the server saw, other than a new connection.
async fn next(seen: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    loop {
        match seen.recv().await.expect("server gone") {
            Seen::Connection | Seen::Open(_) | Seen::Transaction(_) | Seen::At(_) => continue,
            other => return other,
        }
    }
}

fn upstream(port: u16, auth: &str, username: &str, secret_key: &str, timeout: &str) -> String {
    format!(
        "[[upstream]]\nname = \"scripted\"\nhost = \"127.0.0.1\"\nport = {port}\nconn = \"plaintext\"\nauth = \"{auth}\"\n\
         username = '{username}'\n{secret_key}\ntimeout = \"{timeout}\"\n"
    )
}

async fn send_one(relay: &TestRelay) -> String {
    let rcpt = format!("<{}@example.net>", unique("scripted"));
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send("<payroll@example.test>", &[&rcpt], &message("scripted"))
        .await;
    assert!(r.starts_with("250"), "{r}");
    rcpt
}

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

fn accept_plain(_: &str, _: &[String]) -> Result<String, String> {
    Ok("anyone".into())
}

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

#[tokio::test]
async fn more_recipients_than_the_provider_takes_go_out_as_several_transactions() {
    let (port, mut seen) = scripted_server("PLAIN", accept_plain, AfterData::Accept).await;
    let up = format!(
        "{}\n[upstream.limits]\nmax_recipients_per_message = 2\n",
        upstream(port, "none", "u", "password = \"p\"", "5s")
    );
    let relay = TestRelay::start(&up, "").await;
    let rcpts: Vec<String> = (0..5).map(|i| format!("<r{i}@example.net>")).collect();
    let rcpts: Vec<&str> = rcpts.iter().map(String::as_str).collect();
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send("<payroll@example.test>", &rcpts, &message("many"))
        .await;
    assert!(r.starts_with("250"), "{r}");
    relay.wait_queue("all delivered", |q| q.is_empty()).await;
    let mut sizes = Vec::new();
    while let Ok(s) = seen.try_recv() {
        if let Seen::Transaction(n) = s {
            sizes.push(n);
        }
    }
    assert_eq!(
        sizes,
        vec![2, 2, 1],
        "never bounced for it, never more than 2 at once"
    );
}

#[tokio::test]
async fn max_connections_caps_concurrent_connections_to_the_upstream() {
    let (port, mut seen) = scripted_server("PLAIN", accept_plain, AfterData::Accept).await;
    let up = format!(
        "{}\n[upstream.limits]\nmax_connections = 1\n",
        upstream(port, "none", "u", "password = \"p\"", "5s")
    );
    let relay = TestRelay::start(&up, "").await;
    let sends = (0..8).map(|_| {
        let addr = relay.addr();
        tokio::spawn(async move {
            let (mut c, _) = Client::connect(addr).await;
            let rcpt = format!("<{}@example.net>", unique("cap"));
            c.send("<payroll@example.test>", &[&rcpt], &message("cap"))
                .await
        })
    });
    for s in sends.collect::<Vec<_>>() {
        assert!(s.await.unwrap().starts_with("250"));
    }
    relay.wait_queue("all delivered", |q| q.is_empty()).await;
    let mut peak = 0;
    let mut messages = 0;
    while let Ok(s) = seen.try_recv() {
        match s {
            Seen::Open(n) => peak = peak.max(n),
            Seen::Message(_) => messages += 1,
            _ => {}
        }
    }
    assert_eq!((peak, messages), (1, 8));
}

/// Sends `n` messages one after the other and returns when the upstream accepted each.
async fn accepted_times(limits: &str, n: usize) -> Vec<std::time::Duration> {
    let (port, mut seen) = scripted_server("PLAIN", accept_plain, AfterData::Accept).await;
    let up = format!(
        "{}\n[upstream.limits]\n{limits}",
        upstream(port, "none", "u", "password = \"p\"", "5s")
    );
    let relay = TestRelay::start(&up, "").await;
    for _ in 0..n {
        send_one(&relay).await;
    }
    relay.wait_queue("all delivered", |q| q.is_empty()).await;
    let mut at = Vec::new();
    while let Ok(s) = seen.try_recv() {
        if let Seen::At(t) = s {
            at.push(t);
        }
    }
    at.sort();
    at.iter().map(|t| t.duration_since(at[0])).collect()
}

#[tokio::test]
async fn a_batch_goes_out_then_waits_before_the_next_one() {
    let at = accepted_times("batch = 2\nbatch_wait = \"1s\"\n", 4).await;
    assert_eq!(at.len(), 4);
    // Lower bounds only: the pause must have happened; a slow machine can only add to it.
    assert!(
        at[2] >= std::time::Duration::from_millis(1000),
        "third message at {:?}",
        at[2]
    );
    assert!(at[3] >= at[2]);
}

#[tokio::test]
async fn a_rate_paces_delivery() {
    let at = accepted_times("rate = \"2/s\"\n", 3).await;
    assert_eq!(at.len(), 3);
    assert!(
        at[2] >= std::time::Duration::from_millis(900),
        "third message at {:?}",
        at[2]
    );
}
