//! A minimal SMTP client connection: a stream (plain or TLS), a read buffer that never drops
//! bytes between replies, reply parsing, EHLO capabilities, and every read and write bounded by
//! the upstream's timeout. Knows nothing of queues, policy or which mechanism to pick.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::error::UpstreamError;
pub use super::reply::UpReply;

/// Replies longer than this are a protocol violation (RFC 5321 allows 512 per line).
const MAX_REPLY: usize = 64 * 1024;

pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// What the server said it supports in its EHLO reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub esmtp: bool,
    pub pipelining: bool,
    pub starttls: bool,
    pub size: Option<u64>,
    pub eight_bit_mime: bool,
    pub smtputf8: bool,
    pub dsn: bool,
    pub enhanced_status: bool,
    /// Upper-case SASL mechanism names.
    pub auth: Vec<String>,
}

impl Capabilities {
    pub fn parse(reply: &UpReply) -> Capabilities {
        let mut caps = Capabilities {
            esmtp: true,
            ..Default::default()
        };
        for line in reply.text.lines().skip(1) {
            let kw = line.get(4..).unwrap_or("").trim();
            let mut words = kw.split_whitespace();
            let Some(first) = words.next() else { continue };
            let first = first.to_ascii_uppercase();
            match first.as_str() {
                "PIPELINING" => caps.pipelining = true,
                "STARTTLS" => caps.starttls = true,
                "8BITMIME" => caps.eight_bit_mime = true,
                "SMTPUTF8" => caps.smtputf8 = true,
                "DSN" => caps.dsn = true,
                "ENHANCEDSTATUSCODES" => caps.enhanced_status = true,
                "SIZE" => caps.size = words.next().and_then(|n| n.parse().ok()).filter(|n| *n > 0),
                "AUTH" => caps.auth.extend(words.map(|w| w.to_ascii_uppercase())),
                s if s.starts_with("AUTH=") => caps
                    .auth
                    .extend(kw[5..].split_whitespace().map(|w| w.to_ascii_uppercase())),
                _ => {}
            }
        }
        caps.auth.sort();
        caps.auth.dedup();
        caps
    }

    pub fn offers_auth(&self, mech: &str) -> bool {
        self.auth.iter().any(|m| m == mech)
    }
}

pub struct Conn {
    pub stream: Stream,
    rbuf: Vec<u8>,
    pub timeout: Duration,
    pub caps: Capabilities,
    /// Set by `send-test`: every reply is reported as it arrives.
    pub trace: Option<super::trace::Tracer>,
}

impl Conn {
    pub fn new(stream: Stream, timeout: Duration) -> Self {
        Conn {
            stream,
            rbuf: Vec::with_capacity(4096),
            timeout,
            caps: Capabilities::default(),
            trace: None,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    /// Bytes received but not yet consumed as a reply (must be empty before STARTTLS).
    pub fn has_buffered_input(&self) -> bool {
        !self.rbuf.is_empty()
    }

    pub async fn read_reply(&mut self, stage: &'static str) -> Result<UpReply, UpstreamError> {
        let timeout = self.timeout;
        let reply = tokio::time::timeout(timeout, self.read_reply_inner(stage))
            .await
            .map_err(|_| UpstreamError::Timeout { stage })??;
        if let Some(t) = &self.trace {
            t.emit(super::trace::Step::Reply {
                stage,
                reply: reply.clone(),
            });
        }
        Ok(reply)
    }

    async fn read_reply_inner(&mut self, stage: &'static str) -> Result<UpReply, UpstreamError> {
        let mut scanned = 0;
        loop {
            if let Some(end) = complete_reply(&self.rbuf, &mut scanned) {
                let raw: Vec<u8> = self.rbuf.drain(..end).collect();
                return parse_reply(&raw, stage);
            }
            if self.rbuf.len() > MAX_REPLY {
                return Err(UpstreamError::Protocol {
                    stage,
                    detail: "reply too long".into(),
                });
            }
            let mut chunk = [0u8; 4096];
            let n = self
                .stream
                .read(&mut chunk)
                .await
                .map_err(|e| UpstreamError::Io { stage, source: e })?;
            if n == 0 {
                return Err(UpstreamError::Closed { stage });
            }
            self.rbuf.extend_from_slice(&chunk[..n]);
        }
    }

    pub async fn write(&mut self, bytes: &[u8], stage: &'static str) -> Result<(), UpstreamError> {
        let timeout = self.timeout;
        let io = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        tokio::time::timeout(timeout, io)
            .await
            .map_err(|_| UpstreamError::Timeout { stage })?
            .map_err(|e| UpstreamError::Io { stage, source: e })
    }

    /// Sends one command line (CRLF added) and reads its reply.
    pub async fn command(
        &mut self,
        line: &str,
        stage: &'static str,
    ) -> Result<UpReply, UpstreamError> {
        let mut buf = Vec::with_capacity(line.len() + 2);
        buf.extend_from_slice(line.as_bytes());
        buf.extend_from_slice(b"\r\n");
        self.write(&buf, stage).await?;
        self.read_reply(stage).await
    }

    /// EHLO, falling back to HELO when the server does not speak ESMTP.
    pub async fn hello(&mut self, name: &str) -> Result<(), UpstreamError> {
        let r = self.command(&format!("EHLO {name}"), "EHLO").await?;
        if r.code == 250 {
            self.caps = Capabilities::parse(&r);
            return Ok(());
        }
        let r = self.command(&format!("HELO {name}"), "HELO").await?;
        if r.code != 250 {
            return Err(UpstreamError::Rejected {
                stage: "HELO",
                reply: r,
            });
        }
        self.caps = Capabilities::default();
        Ok(())
    }

    pub async fn quit(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            let _ = self.stream.write_all(b"QUIT\r\n").await;
            let _ = self.read_reply_inner("QUIT").await;
            let _ = self.stream.shutdown().await;
        })
        .await;
    }
}

/// End offset of the first complete reply in `buf`, if any. `scanned` remembers how far
/// previous calls got, so a long multi-line reply is not rescanned from the start.
fn complete_reply(buf: &[u8], scanned: &mut usize) -> Option<usize> {
    let mut start = *scanned;
    while let Some(nl) = buf[start..].iter().position(|b| *b == b'\n') {
        let line = &buf[start..start + nl + 1];
        let end = start + nl + 1;
        // The last line of a reply has a space (or nothing) after the code.
        if line.len() < 4 || line[3] != b'-' {
            *scanned = 0;
            return Some(end);
        }
        start = end;
    }
    *scanned = start;
    None
}

fn parse_reply(raw: &[u8], stage: &'static str) -> Result<UpReply, UpstreamError> {
    let text = String::from_utf8_lossy(raw);
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.is_empty())
        .collect();
    let code_of = |l: &str| {
        l.get(..3)
            .and_then(|c| c.parse::<u16>().ok())
            .filter(|c| (200..600).contains(c))
    };
    let code = lines
        .first()
        .and_then(|l| code_of(l))
        .ok_or_else(|| UpstreamError::Protocol {
            stage,
            detail: format!("unparseable reply {:?}", lines.first().unwrap_or(&"")),
        })?;
    if lines.iter().any(|l| code_of(l) != Some(code)) {
        return Err(UpstreamError::Protocol {
            stage,
            detail: "reply lines with different codes".into(),
        });
    }
    Ok(UpReply {
        code,
        text: lines.join("\n"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_reply_waits_for_the_last_line_of_a_multiline_reply() {
        let mut s = 0;
        assert_eq!(complete_reply(b"250-a\r\n250-b\r\n", &mut s), None);
        assert_eq!(
            complete_reply(b"250-a\r\n250-b\r\n250 c\r\n354 go\r\n", &mut s),
            Some(21)
        );
    }

    #[test]
    fn capabilities_are_read_from_ehlo() {
        let r = UpReply {
            code: 250,
            text: "250-mx.test\n250-PIPELINING\n250-SIZE 10240000\n250-STARTTLS\n250-AUTH PLAIN LOGIN CRAM-MD5\n250-AUTH=PLAIN LOGIN\n250-DSN\n250 8BITMIME".into(),
        };
        let c = Capabilities::parse(&r);
        assert!(c.pipelining && c.starttls && c.dsn && c.eight_bit_mime);
        assert_eq!(c.size, Some(10_240_000));
        assert_eq!(c.auth, vec!["CRAM-MD5", "LOGIN", "PLAIN"]);
    }

    #[test]
    fn garbage_is_a_protocol_error_not_a_panic() {
        assert!(parse_reply(b"hello\r\n", "greeting").is_err());
        assert!(parse_reply(b"250-a\r\n550 b\r\n", "EHLO").is_err());
    }
}
