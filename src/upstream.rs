//! Relaying one stored message over an open connection: MAIL (with the DSN, SIZE, BODY and
//! SMTPUTF8 parameters the server supports), one RCPT per pending recipient, DATA, and a result
//! per recipient. Pipelines when the server offers PIPELINING. Never decides retries or bounces;
//! it only reports what the upstream said.

pub mod auth;
pub mod client;
pub mod connect;
pub mod downgrade;
pub mod error;
pub mod file;
pub mod redact;
pub mod reply;
pub mod trace;

use client::{Conn, UpReply};
use error::{Permanence, UpstreamError};

use crate::envelope::{BodyType, Envelope, Notify, Ret, xtext_encode};

/// What the upstream said about one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RcptResult {
    Delivered(String),
    Deferred(String),
    Failed(String),
}

impl RcptResult {
    fn from_reply(r: &UpReply) -> Self {
        if r.is_positive() {
            RcptResult::Delivered(r.to_string())
        } else if r.is_permanent() {
            RcptResult::Failed(r.to_string())
        } else {
            RcptResult::Deferred(r.to_string())
        }
    }
}

/// Sends one message to the recipients at `indices` (into `env.recipients`). `Err` means the
/// connection is no longer usable; every recipient not yet answered must then be retried.
/// A UTF-8 address toward a server without SMTPUTF8 fails at once with `5.6.7` (RFC 6531
/// 3.2): never sent bare. The other recipients of the message go.
pub async fn send(
    conn: &mut Conn,
    env: &Envelope,
    indices: &[usize],
    body: &[u8],
    default_notify: Option<Notify>,
) -> Result<Vec<(usize, RcptResult)>, UpstreamError> {
    let (go, mut results) = smtputf8_check(env, indices, conn.caps.smtputf8);
    if !go.is_empty() {
        results.extend(transaction(conn, env, &go, body, default_notify).await?);
    }
    Ok(results)
}

/// The recipients that may go to a server with or without SMTPUTF8, and a `5.6.7` failure for
/// each that may not (all of them when the sender's address is not ASCII).
fn smtputf8_check(
    env: &Envelope,
    indices: &[usize],
    server_has_it: bool,
) -> (Vec<usize>, Vec<(usize, RcptResult)>) {
    if server_has_it || !env.smtputf8 {
        return (indices.to_vec(), Vec::new());
    }
    let sender_utf8 = !env.mail_from.is_ascii();
    let (mut go, mut refused) = (Vec::new(), Vec::new());
    for &i in indices {
        let rcpt = &env.recipients[i].address;
        if sender_utf8 {
            refused.push((
                i,
                RcptResult::Failed(needs_smtputf8("sender", &env.mail_from)),
            ));
        } else if !rcpt.is_ascii() {
            refused.push((i, RcptResult::Failed(needs_smtputf8("recipient", rcpt))));
        } else {
            go.push(i);
        }
    }
    (go, refused)
}

/// The reply recorded (and bounced) for an address the server cannot take.
fn needs_smtputf8(role: &str, address: &str) -> String {
    format!(
        "553 5.6.7 The {role} address <{address}> is not ASCII and the upstream server does not \
         offer SMTPUTF8 (RFC 6531): write the address in ASCII, or relay through a server that \
         accepts international addresses"
    )
}

/// One MAIL/RCPT/DATA transaction to the recipients at `indices`.
async fn transaction(
    conn: &mut Conn,
    env: &Envelope,
    indices: &[usize],
    body: &[u8],
    default_notify: Option<Notify>,
) -> Result<Vec<(usize, RcptResult)>, UpstreamError> {
    let mut head = String::new();
    head.push_str(&mail_command(env, conn, body.len()));
    for &i in indices {
        head.push_str(&rcpt_command(env, i, conn.caps.dsn, default_notify));
    }
    let pipelined = conn.caps.pipelining;
    if pipelined {
        head.push_str("DATA\r\n");
        conn.write(head.as_bytes(), "MAIL").await?;
    }
    let mut commands = head.split_inclusive("\r\n");
    let mut next_line = || commands.next().unwrap_or("").to_string();

    let mail = step(conn, pipelined, &next_line(), "MAIL").await?;
    let mut results = Vec::with_capacity(indices.len());
    let mut accepted = Vec::new();
    for &i in indices {
        let r = step(conn, pipelined, &next_line(), "RCPT").await?;
        if r.is_positive() {
            accepted.push(i);
        } else {
            results.push((i, RcptResult::from_reply(&r)));
        }
    }
    if !mail.is_positive() {
        if pipelined {
            // The server answers the pipelined DATA too (with 503); consume it.
            let _ = step(conn, pipelined, &next_line(), "DATA").await?;
        }
        reset(conn).await?;
        let verdict = RcptResult::from_reply(&mail);
        return Ok(indices.iter().map(|&i| (i, verdict.clone())).collect());
    }
    let relay_refused = results.iter().all(|(_, r)| error::is_relay_refusal(r));
    if accepted.is_empty() {
        if pipelined {
            let data = conn.read_reply("DATA").await?;
            if data.code == 354 {
                // No recipient but the server still wants data: send an empty message end.
                conn.write(b".\r\n", "DATA").await?;
                let _ = conn.read_reply("end of DATA").await?;
            }
        }
        reset(conn).await?;
        // The upstream does not take this relay as a client (certificate, IP, login): our
        // configuration, never the recipients' fault.
        if let (true, Some((_, RcptResult::Failed(reply)))) = (relay_refused, results.first()) {
            return Err(UpstreamError::RelayRefused(reply.clone()));
        }
        return Ok(results);
    }
    let data = if pipelined {
        conn.read_reply("DATA").await?
    } else {
        conn.command("DATA", "DATA").await?
    };
    if data.code != 354 {
        for i in accepted {
            results.push((i, RcptResult::from_reply(&data)));
        }
        reset(conn).await?;
        return Ok(results);
    }
    write_data(conn, body).await?;
    let end = conn.read_reply("end of DATA").await?;
    let verdict = RcptResult::from_reply(&end);
    for i in accepted {
        results.push((i, verdict.clone()));
    }
    Ok(results)
}

/// One command's reply; without PIPELINING the command is written first.
async fn step(
    conn: &mut Conn,
    pipelined: bool,
    line: &str,
    stage: &'static str,
) -> Result<UpReply, UpstreamError> {
    if !pipelined {
        conn.write(line.as_bytes(), stage).await?;
    }
    conn.read_reply(stage).await
}

async fn reset(conn: &mut Conn) -> Result<(), UpstreamError> {
    let r = conn.command("RSET", "RSET").await?;
    if r.is_positive() {
        Ok(())
    } else {
        Err(UpstreamError::Rejected {
            stage: "RSET",
            reply: r,
        })
    }
}

fn mail_command(env: &Envelope, conn: &Conn, size: usize) -> String {
    let caps = &conn.caps;
    let mut cmd = format!("MAIL FROM:<{}>", env.mail_from);
    if caps.size.is_some() {
        cmd.push_str(&format!(" SIZE={size}"));
    }
    if caps.eight_bit_mime {
        match env.body {
            BodyType::EightBitMime => cmd.push_str(" BODY=8BITMIME"),
            BodyType::SevenBit => cmd.push_str(" BODY=7BIT"),
            BodyType::Unspecified => {}
        }
    }
    if env.smtputf8 && caps.smtputf8 {
        cmd.push_str(" SMTPUTF8");
    }
    if caps.dsn {
        match env.ret {
            Some(Ret::Full) => cmd.push_str(" RET=FULL"),
            Some(Ret::Hdrs) => cmd.push_str(" RET=HDRS"),
            None => {}
        }
        if let Some(id) = &env.envid {
            cmd.push_str(&format!(" ENVID={}", xtext_encode(id)));
        }
    }
    cmd.push_str("\r\n");
    cmd
}

fn rcpt_command(env: &Envelope, i: usize, dsn: bool, default_notify: Option<Notify>) -> String {
    let r = &env.recipients[i];
    let mut cmd = format!("RCPT TO:<{}>", r.address);
    if dsn {
        if let Some(n) = r.notify.or(default_notify) {
            cmd.push_str(&format!(" NOTIFY={}", n.to_param()));
        }
        if let Some(o) = &r.orcpt {
            cmd.push_str(&format!(" ORCPT=rfc822;{}", xtext_encode(o)));
        }
    }
    cmd.push_str("\r\n");
    cmd
}

/// The DATA payload: lines starting with `.` get another `.`, every line ends with CRLF, then
/// the terminating `.` line. A bare CR or bare LF (a message spooled by an older version, or
/// added by a policy edit) is sent as CRLF: a server downstream that ends lines at a bare CR
/// could otherwise be made to see an end of data inside the message (smuggling).
pub fn dot_stuff(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 64 + 5);
    stuff_lines(body, &mut out);
    out.extend_from_slice(b".\r\n");
    out
}

/// Bytes of message dot-stuffed and written at a time: the payload is never a second copy of
/// a large message.
const DATA_CHUNK: usize = 256 * 1024;

/// Writes [`dot_stuff`]`(body)` in chunks that end at line ends.
async fn write_data(conn: &mut Conn, body: &[u8]) -> Result<(), UpstreamError> {
    let mut buf = Vec::with_capacity(DATA_CHUNK + DATA_CHUNK / 32);
    let mut rest = body;
    while !rest.is_empty() {
        // Cut after an LF, so the next chunk starts a line and no CRLF is split.
        let cut = match memchr::memrchr(b'\n', &rest[..rest.len().min(DATA_CHUNK)]) {
            Some(lf) if rest.len() > DATA_CHUNK => lf + 1,
            _ if rest.len() > DATA_CHUNK => memchr::memchr(b'\n', &rest[DATA_CHUNK..])
                .map_or(rest.len(), |lf| DATA_CHUNK + lf + 1),
            _ => rest.len(),
        };
        buf.clear();
        stuff_lines(&rest[..cut], &mut buf);
        rest = &rest[cut..];
        if rest.is_empty() {
            // The end of data rides with the last chunk: one write (one segment, one wake-up
            // of the server) fewer per message.
            buf.extend_from_slice(b".\r\n");
        }
        conn.write(&buf, "DATA").await?;
    }
    if body.is_empty() {
        conn.write(b".\r\n", "DATA").await?;
    }
    Ok(())
}

/// Appends `text` (which starts at a line start) dot-stuffed, every line ended with CRLF.
fn stuff_lines(text: &[u8], out: &mut Vec<u8>) {
    let mut rest = text;
    // Copy whole lines at a time: the hot path of relaying.
    while !rest.is_empty() {
        if rest[0] == b'.' {
            out.push(b'.');
        }
        let Some(end) = memchr::memchr2(b'\r', b'\n', rest) else {
            out.extend_from_slice(rest);
            out.extend_from_slice(b"\r\n");
            break;
        };
        out.extend_from_slice(&rest[..end]);
        out.extend_from_slice(b"\r\n");
        let crlf = rest[end] == b'\r' && rest.get(end + 1) == Some(&b'\n');
        rest = &rest[end + if crlf { 2 } else { 1 }..];
    }
}

/// Whether an error should be retried for every recipient it touched.
pub fn is_temporary(e: &UpstreamError) -> bool {
    e.classify().1 == Permanence::Temporary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_stuffing_doubles_leading_dots_and_terminates() {
        assert_eq!(
            dot_stuff(b"a\r\n.b\r\n..c\r\n"),
            b"a\r\n..b\r\n...c\r\n.\r\n"
        );
        assert_eq!(
            dot_stuff(b".start\r\nno newline"),
            b"..start\r\nno newline\r\n.\r\n"
        );
    }

    fn utf8_envelope(from: &str, rcpts: &[&str]) -> Envelope {
        Envelope {
            mail_from: from.into(),
            body: BodyType::EightBitMime,
            smtputf8: true,
            ret: None,
            envid: None,
            recipients: rcpts
                .iter()
                .map(|a| crate::envelope::Recipient {
                    address: a.to_string(),
                    orcpt: None,
                    notify: None,
                })
                .collect(),
            upstream: None,
            client: None,
        }
    }

    #[test]
    fn utf8_recipients_fail_with_5_6_7_without_smtputf8_and_the_others_go() {
        let env = utf8_envelope("a@x.test", &["jörg@bücher.test", "b@y.test"]);
        let (go, refused) = smtputf8_check(&env, &[0, 1], false);
        assert_eq!(go, vec![1]);
        match &refused[..] {
            [(0, RcptResult::Failed(r))] => assert!(r.starts_with("553 5.6.7 "), "{r}"),
            other => panic!("{other:?}"),
        }
        let (go, refused) = smtputf8_check(&env, &[0, 1], true);
        assert_eq!((go.len(), refused.len()), (2, 0));
    }

    #[test]
    fn a_utf8_sender_without_smtputf8_fails_every_recipient() {
        let env = utf8_envelope("jörg@bücher.test", &["b@y.test"]);
        let (go, refused) = smtputf8_check(&env, &[0], false);
        assert!(go.is_empty());
        assert_eq!(refused.len(), 1);
    }

    #[test]
    fn a_quoted_local_part_goes_upstream_with_its_quotes_and_no_extra_parameter() {
        let env = Envelope {
            mail_from: "\"odd@sender\"@x.test".into(),
            body: BodyType::Unspecified,
            smtputf8: false,
            ret: None,
            envid: None,
            recipients: vec![crate::envelope::Recipient {
                address: "\"victim@target.test\"@dest.test".into(),
                orcpt: None,
                notify: None,
            }],
            upstream: None,
            client: None,
        };
        assert_eq!(
            rcpt_command(&env, 0, true, None),
            "RCPT TO:<\"victim@target.test\"@dest.test>\r\n"
        );
    }

    /// The payload written in chunks is byte for byte the one-buffer payload.
    #[tokio::test]
    async fn data_written_in_chunks_is_the_dot_stuffed_message() {
        let long = b"x".repeat(300);
        let mut body = Vec::new();
        for i in 0..40_000 {
            body.extend_from_slice(match i % 5 {
                0 => b".dot line\r\n".as_slice(),
                1 => b"bare lf\n".as_slice(),
                2 => b"bare cr\r".as_slice(),
                3 => long.as_slice(),
                _ => b"\r\n".as_slice(),
            });
        }
        body.extend_from_slice(b"no newline at the end");
        assert!(body.len() > 2 * DATA_CHUNK);
        assert_eq!(written(&body).await, dot_stuff(&body));
    }

    /// What a server receives when `write_data` sends `body` over a loopback connection.
    async fn written(body: &[u8]) -> Vec<u8> {
        use tokio::io::AsyncReadExt;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let reader = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut all = Vec::new();
            s.read_to_end(&mut all).await.unwrap();
            all
        });
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut conn = Conn::new(
            client::Stream::Plain(tcp),
            std::time::Duration::from_secs(5),
        );
        write_data(&mut conn, body).await.unwrap();
        drop(conn);
        reader.await.unwrap()
    }

    #[tokio::test]
    async fn short_and_empty_bodies_end_with_the_dot() {
        for body in [b"".as_slice(), b"Subject: s\r\n\r\nhi\r\n".as_slice()] {
            assert_eq!(written(body).await, dot_stuff(body));
        }
    }

    #[test]
    fn dot_stuffing_sends_bare_cr_and_bare_lf_as_crlf() {
        assert_eq!(
            dot_stuff(b"a\r.\r\nb\n.\nc\r\r\n"),
            b"a\r\n..\r\nb\r\n..\r\nc\r\n\r\n.\r\n"
        );
    }
}
