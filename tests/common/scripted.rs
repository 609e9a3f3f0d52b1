//! An in-process scripted SMTP upstream, for what Postfix cannot show: NTLM and XOAUTH2
//! exchanges, servers that hang or drop mid-message, and providers' throttling replies.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::{Client, TestRelay, message, unique};

/// What the scripted server observed.
#[derive(Debug)]
#[allow(dead_code)] // payloads are for failure messages
pub enum Seen {
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
pub enum AfterData {
    Accept,
    Hang,
    DropFirst,
    TempFailFirst,
    /// The first message gets this reply after its data (a provider's throttling reply).
    ReplyFirst(&'static str),
}

pub type Auth = fn(&str, &[String]) -> Result<String, String>;

/// A scripted SMTP server: advertises `mechs`, lets `auth` drive the AUTH exchange (it gets the
/// AUTH line and the client's later lines, returns the authenticated identity or a reason), and
/// then treats the message as `after_data` says.
pub async fn scripted_server(
    mechs: &'static str,
    auth: Auth,
    after_data: AfterData,
) -> (u16, mpsc::UnboundedReceiver<Seen>) {
    scripted_server_on(0, mechs, auth, after_data).await
}

pub async fn scripted_server_on(
    port: u16,
    mechs: &'static str,
    auth: Auth,
    after_data: AfterData,
) -> (u16, mpsc::UnboundedReceiver<Seen>) {
    scripted_server_ehlo(port, "8BITMIME", mechs, auth, after_data).await
}

/// A 7-bit server from before 8BITMIME (RFC 6152) and SMTPUTF8: its EHLO offers neither. It
/// accepts any message and reports it, so a test sees exactly what was sent to it.
pub async fn seven_bit_server() -> (u16, mpsc::UnboundedReceiver<Seen>) {
    scripted_server_ehlo(0, "HELP", "PLAIN", accept_plain, AfterData::Accept).await
}

/// The scripted server with `last` as the last line of its EHLO reply.
pub async fn scripted_server_ehlo(
    port: u16,
    last: &'static str,
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
                        format!("250-scripted\r\n250-AUTH {mechs}\r\n250 {last}\r\n")
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
                            AfterData::ReplyFirst(reply) if first => format!("{reply}\r\n"),
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
pub async fn next(seen: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    loop {
        match seen.recv().await.expect("server gone") {
            Seen::Connection | Seen::Open(_) | Seen::Transaction(_) | Seen::At(_) => continue,
            other => return other,
        }
    }
}

pub fn upstream(port: u16, auth: &str, username: &str, secret_key: &str, timeout: &str) -> String {
    format!(
        "[[upstream]]\nname = \"scripted\"\nhost = \"127.0.0.1\"\nport = {port}\nconn = \"plaintext\"\nauth = \"{auth}\"\n\
         username = '{username}'\n{secret_key}\ntimeout = \"{timeout}\"\n"
    )
}

pub async fn send_one(relay: &TestRelay) -> String {
    let rcpt = format!("<{}@example.net>", unique("scripted"));
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send("<payroll@example.test>", &[&rcpt], &message("scripted"))
        .await;
    assert!(r.starts_with("250"), "{r}");
    rcpt
}

pub fn accept_plain(_: &str, _: &[String]) -> Result<String, String> {
    Ok("anyone".into())
}
