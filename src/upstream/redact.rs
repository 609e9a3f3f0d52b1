//! Redaction of upstream replies to an AUTH step. A hostile or buggy upstream may echo the AUTH
//! line in its `535` (Postfix-like servers quote the command), and that reply is logged, stored
//! as the recipient's last reply in the queue and quoted in bounces. Owns only the text
//! transformation; never decides whether a login failed.

use base64::Engine;

const REDACTED: &str = "[redacted]";

/// `reply` with the secret removed: in clear, and in any base64 word that decodes to something
/// holding it (the `AUTH PLAIN` blob, the `AUTH LOGIN` password line, an XOAUTH2 token).
pub fn reply_text(reply: &str, secret: &str) -> String {
    if secret.is_empty() {
        return reply.to_string();
    }
    let clear = reply.replace(secret, REDACTED);
    let mut out = String::with_capacity(clear.len());
    let mut rest = clear.as_str();
    // Keep every separator as it was; replace only the words that decode to the secret.
    while let Some(start) = rest.find(is_base64_char) {
        let (before, word_and_after) = rest.split_at(start);
        let end = word_and_after
            .find(|c: char| !is_base64_char(c))
            .unwrap_or(word_and_after.len());
        let (word, after) = word_and_after.split_at(end);
        out.push_str(before);
        out.push_str(if hides(word, secret) { REDACTED } else { word });
        rest = after;
    }
    out.push_str(rest);
    out
}

fn is_base64_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')
}

/// Whether `word` is base64 (padded or not) whose decoding contains `secret`.
fn hides(word: &str, secret: &str) -> bool {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    let decoded = STANDARD
        .decode(word)
        .or_else(|_| STANDARD_NO_PAD.decode(word.trim_end_matches('=')));
    decoded.is_ok_and(|bytes| memchr::memmem::find(&bytes, secret.as_bytes()).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD as B64;

    #[test]
    fn an_echoed_auth_plain_blob_is_redacted() {
        let blob = B64.encode("\0office@corp.test\0S3cret!pw");
        let reply = format!("535 5.7.8 <AUTH PLAIN {blob}>: authentication failed");
        let r = reply_text(&reply, "S3cret!pw");
        assert_eq!(
            r,
            "535 5.7.8 <AUTH PLAIN [redacted]>: authentication failed"
        );
    }

    #[test]
    fn an_echoed_login_password_or_the_clear_secret_is_redacted() {
        let line = B64.encode("S3cret!pw");
        let r = reply_text(&format!("535 bad {line} (S3cret!pw)"), "S3cret!pw");
        assert!(!r.contains(&line) && !r.contains("S3cret"), "{r}");
    }

    #[test]
    fn a_reply_without_the_secret_is_unchanged() {
        let reply = "535 5.7.8 Error: authentication failed: UGFzc3dvcmQ6";
        assert_eq!(reply_text(reply, "S3cret!pw"), reply);
    }

    /// A hostile upstream whose `535` quotes the AUTH line: the error that is logged and
    /// queued never holds the credentials.
    #[tokio::test]
    async fn a_535_that_echoes_the_auth_line_is_redacted_before_it_is_logged_or_queued() {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            let (r, mut w) = tokio::io::split(s);
            let mut r = BufReader::new(r);
            w.write_all(b"220 hostile\r\n").await.unwrap();
            let mut line = String::new();
            r.read_line(&mut line).await.unwrap();
            let echo = format!("535 5.7.8 <{}>: authentication failed\r\n", line.trim_end());
            w.write_all(echo.as_bytes()).await.unwrap();
        });
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut conn = super::super::client::Conn::new(
            super::super::client::Stream::Plain(tcp),
            std::time::Duration::from_secs(5),
        );
        conn.read_reply("greeting").await.unwrap();
        let creds = crate::config::Credentials {
            username: "office@corp.test".into(),
            secret: crate::config::Secret::Inline("S3cret!pw".into()),
        };
        let server = super::super::auth::Server {
            host: "127.0.0.1",
            port: addr.port(),
        };
        let mech = super::super::auth::Mechanism::Plain;
        let err = super::super::auth::authenticate(&mut conn, mech, &creds, None, server)
            .await
            .unwrap_err()
            .to_string();
        let blob = B64.encode("\0office@corp.test\0S3cret!pw");
        assert!(!err.contains(&blob) && !err.contains("S3cret"), "{err}");
        assert!(err.contains("[redacted]"), "{err}");
    }
}
