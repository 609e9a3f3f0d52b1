//! Programs that insist on logging in, pointed at the relay on loopback (issue 19, parts 1, 2
//! and 4), driven by real client libraries (Python smtplib, curl, swaks) and raw sockets from
//! 127.0.0.1 and 127.0.0.2: a login without TLS on loopback, any login accepted when there are
//! no accounts (the name becomes the client and picks its profile), a wrong password that
//! pauses only its name and never the machine, the replies and log lines people act on.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::{BinaryRelay, Client, WAIT, read_reply, say, unique};
use tokio::io::BufReader;
use tokio::net::TcpStream;

/// Sends one message with Python's smtplib, logging in first; returns (exit code, output).
/// smtplib picks CRAM-MD5, then PLAIN, then LOGIN, from what the server offers.
fn python_send(addr: std::net::SocketAddr, user: &str, password: &str, to: &str) -> (i32, String) {
    let script = r#"
import smtplib, sys
host, port, user, password, to = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
s = smtplib.SMTP(host, port, timeout=30)
try:
    s.login(user, password)
except smtplib.SMTPAuthenticationError as e:
    print("login refused:", e.smtp_code, e.smtp_error.decode())
    sys.exit(3)
print("mechanism ok")
msg = "From: payroll@acme.test\r\nTo: %s\r\nSubject: smtplib\r\n\r\nhello\r\n" % to
s.sendmail("payroll@acme.test", [to], msg)
s.quit()
print("sent")
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .args([user, password, to])
        .output()
        .expect("python3");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The `.json` envelope the file upstream in `dir` wrote for `rcpt`, waiting up to [`WAIT`].
async fn delivered_to(dir: &Path, rcpt: &str) -> serde_json::Value {
    let deadline = Instant::now() + WAIT;
    loop {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                if text.contains(rcpt) {
                    return serde_json::from_str(&text).unwrap();
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "nothing for {rcpt} in {}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `.eml` the file upstream in `dir` wrote for `rcpt`.
async fn eml_to(dir: &Path, rcpt: &str) -> String {
    delivered_to(dir, rcpt).await;
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .find(|t| t.contains(rcpt))
        .unwrap()
}

/// A relay (the release binary's code, as a child process) with two file upstreams: `main`
/// (`{dir}/main`) and `profiled` (`{dir}/profiled`).
fn relay(server: &str, extra: &str) -> BinaryRelay {
    BinaryRelay::start(
        &format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\n{server}\n[spool]\ndir = \"{{dir}}/spool\"\n\
             [[upstream]]\nname = \"main\"\nkind = \"file\"\ndir = \"{{dir}}/main\"\ndefault = true\n\
             [[upstream]]\nname = \"profiled\"\nkind = \"file\"\ndir = \"{{dir}}/profiled\"\n{extra}"
        ),
        &[],
    )
}

fn accounts() -> String {
    format!(
        "[[client]]\nname = \"payroll\"\npassword_hash = \"{}\"\n\
         [[client]]\nname = \"invoicing\"\npassword_hash = \"{}\"\n",
        smarthost::config::hash_password("payroll-pw"),
        smarthost::config::hash_password("invoicing-pw")
    )
}

fn plain(user: &str, password: &str) -> String {
    format!("AUTH PLAIN {}", B64.encode(format!("\0{user}\0{password}")))
}

/// A session from `ip`, past the greeting and EHLO.
async fn session_from(ip: &str, addr: std::net::SocketAddr) -> BufReader<TcpStream> {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(format!("{ip}:0").parse().unwrap()).unwrap();
    let mut r = BufReader::new(sock.connect(addr).await.unwrap());
    let greeting = read_reply(&mut r).await;
    assert!(greeting.starts_with("220"), "{greeting}");
    assert!(say(&mut r, "EHLO c").await.starts_with("250"));
    r
}

#[tokio::test]
async fn smtplib_logs_in_on_loopback_with_any_password_and_its_name_picks_the_profile() {
    let profile = "[[profile]]\nname = \"o365-habit\"\nmatch = { client = \"lohn@acme.ch\" }\n\
                   upstream = \"profiled\"\n";
    let relay = relay("", profile);
    relay.wait_log("accept_any_login = false to refuse").await;
    let to = format!("{}@example.net", unique("smtplib"));
    let (code, out) = python_send(relay.addr, "lohn@acme.ch", "Sommer2026!", &to);
    assert_eq!(code, 0, "{out}");
    let env = delivered_to(&relay.dir.path().join("profiled"), &to).await;
    assert_eq!(env["client"], "lohn@acme.ch", "{env}");
    relay.wait_log("event=queued").await;
    let log = relay.log();
    assert!(
        !log.contains("Sommer2026"),
        "the password is never logged:\n{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("event=queued") && l.contains("client=lohn@acme.ch")),
        "{log}"
    );
}

#[tokio::test]
async fn curl_logs_in_without_tls_on_loopback_to_a_configured_account() {
    let relay = relay("", &accounts());
    let dir = tempfile::tempdir().unwrap();
    let to = format!("{}@example.net", unique("curl"));
    let msg = dir.path().join("m.eml");
    std::fs::write(
        &msg,
        "From: payroll@acme.test\r\nSubject: curl\r\n\r\nhi\r\n",
    )
    .unwrap();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "30"])
        .arg(format!("smtp://{}", relay.addr))
        .args(["--mail-from", "payroll@acme.test", "--mail-rcpt", &to])
        .args(["--user", "payroll:payroll-pw", "--upload-file"])
        .arg(&msg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let env = delivered_to(&relay.dir.path().join("main"), &to).await;
    assert_eq!(env["client"], "payroll", "{env}");
    // RFC 3848: a logged-in session is ESMTPA in the trace field.
    let eml = eml_to(&relay.dir.path().join("main"), &to).await;
    assert!(eml.contains("(smarthost) with ESMTPA id "), "{eml}");
}

#[tokio::test]
async fn swaks_logs_in_with_login_on_loopback_and_a_wrong_password_is_refused() {
    let relay = relay("", &accounts());
    let swaks = |password: &str, to: &str| {
        Command::new("swaks")
            .args(["--server", &relay.addr.to_string(), "--auth", "LOGIN"])
            .args(["--auth-user", "invoicing", "--auth-password", password])
            .args([
                "--from",
                "invoicing@acme.test",
                "--to",
                to,
                "--timeout",
                "30",
            ])
            .output()
            .unwrap()
    };
    let to = format!("{}@example.net", unique("swaks"));
    let ok = swaks("invoicing-pw", &to);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let env = delivered_to(&relay.dir.path().join("main"), &to).await;
    assert_eq!(env["client"], "invoicing", "{env}");
    let bad = swaks("wrong", "x@example.net");
    let text = String::from_utf8_lossy(&bad.stdout);
    assert!(text.contains("535 5.7.8"), "{text}");
}

#[tokio::test]
async fn plain_text_auth_is_the_default_on_loopback_and_the_opt_out_refuses_it() {
    let default = relay("", &accounts());
    let mut s = session_from("127.0.0.1", default.addr).await;
    let r = say(&mut s, &plain("payroll", "payroll-pw")).await;
    assert!(r.starts_with("235"), "{r}");
    let opted_out = relay("allow_plain_auth_on_loopback = false\n", &accounts());
    let mut s = session_from("127.0.0.1", opted_out.addr).await;
    let r = say(&mut s, &plain("payroll", "payroll-pw")).await;
    assert!(r.starts_with("538 5.7.11"), "{r}");
}

#[tokio::test]
async fn a_wrong_password_on_the_machine_pauses_only_that_name_and_never_the_machine() {
    let relay = relay("auth_fail_limit = 2\n", &accounts());
    // Python tries PLAIN then LOGIN: two failures, the limit.
    let (code, out) = python_send(relay.addr, "payroll", "old-password", "a@example.net");
    assert_eq!(code, 3, "{out}");
    // Another program on the machine that does not log in still sends.
    let (mut c, greeting) = Client::connect(relay.addr).await;
    assert!(greeting.starts_with("220"), "{greeting}");
    let r = c
        .send(
            "<scanner@acme.test>",
            &["<b@example.net>"],
            b"Subject: scan\r\n\r\nx\r\n",
        )
        .await;
    assert!(r.starts_with("250"), "{r}");
    // Another account from the same address logs in.
    let mut other = session_from("127.0.0.1", relay.addr).await;
    let ok = say(&mut other, &plain("invoicing", "invoicing-pw")).await;
    assert!(ok.starts_with("235"), "{ok}");
    // The failing name is paused from this address, even with the right password, and the
    // session goes on.
    let mut same = session_from("127.0.0.1", relay.addr).await;
    let paused = say(&mut same, &plain("payroll", "payroll-pw")).await;
    assert!(
        paused.starts_with("454 4.7.0 Too many failed logins as payroll; try again after "),
        "{paused}"
    );
    assert!(say(&mut same, "NOOP").await.starts_with("250"));
    // From another machine of allowed_networks (127.0.0.0/8 by default) the name works.
    let mut elsewhere = session_from("127.0.0.2", relay.addr).await;
    let ok = say(&mut elsewhere, &plain("payroll", "payroll-pw")).await;
    assert!(ok.starts_with("235"), "{ok}");
    relay.wait_log("account=payroll").await;
    let log = relay.log();
    assert!(
        log.lines().any(|l| l.contains("event=rejected")
            && l.contains("account=payroll")
            && l.contains("454")),
        "{log}"
    );
    assert!(!log.contains("not allowed to relay"), "{log}");
}

#[tokio::test]
async fn a_tls_handshake_on_the_plain_port_is_logged_once_and_closed() {
    let relay = relay("", "");
    let script = r#"
import socket, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
try:
    ctx.wrap_socket(s)
    print("handshake succeeded?")
except (ssl.SSLError, OSError) as e:
    print("failed as expected:", e)
"#;
    let out = Command::new("python3")
        .args([
            "-c",
            script,
            &relay.addr.ip().to_string(),
            &relay.addr.port().to_string(),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("failed as expected"), "{text}");
    relay.wait_log("client speaks TLS on a plain port").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = relay.log();
    assert_eq!(
        log.matches("client speaks TLS on a plain port").count(),
        1,
        "{log}"
    );
    assert!(log.contains("use listen_tls"), "{log}");
    assert!(!log.contains("command not recognized"), "{log}");
}

#[tokio::test]
async fn a_message_over_the_limit_is_refused_in_megabytes_and_logged_with_its_sender() {
    let relay = relay("max_message_size = \"1MB\"\n", "");
    let (mut c, _) = Client::connect(relay.addr).await;
    assert!(c.cmd("EHLO c").await.starts_with("250"));
    let r = c.cmd("MAIL FROM:<payroll@acme.test> SIZE=1400000").await;
    assert_eq!(
        r,
        "552 5.3.4 Message too big: 1.4 MB, the limit is 1 MB\r\n"
    );
    // Without SIZE, the same after DATA.
    assert!(
        c.cmd("MAIL FROM:<invoicing@acme.test>")
            .await
            .starts_with("250")
    );
    assert!(c.cmd("RCPT TO:<b@example.net>").await.starts_with("250"));
    assert!(c.cmd("DATA").await.starts_with("354"));
    let line = format!("{}\r\n", "x".repeat(998));
    c.raw(line.repeat(1400).as_bytes()).await;
    c.raw(b".\r\n").await;
    let r = c.reply().await;
    assert_eq!(
        r,
        "552 5.3.4 Message too big: 1.4 MB, the limit is 1 MB\r\n"
    );
    relay.wait_log("from=invoicing@acme.test").await;
    let log = relay.log();
    for sender in ["payroll@acme.test", "invoicing@acme.test"] {
        assert!(
            log.lines().any(|l| l.contains("event=rejected")
                && l.contains(&format!("from={sender}"))
                && l.contains("1.4 MB, the limit is 1 MB")),
            "{log}"
        );
    }
}

#[tokio::test]
async fn bdat_chunks_over_a_real_socket_are_queued_and_delivered() {
    let relay = relay("", "");
    let to = format!("{}@example.net", unique("bdat"));
    let (mut c, _) = Client::connect(relay.addr).await;
    assert!(c.cmd("EHLO c").await.contains("CHUNKING"));
    assert!(
        c.cmd("MAIL FROM:<payroll@acme.test>")
            .await
            .starts_with("250")
    );
    assert!(c.cmd(&format!("RCPT TO:<{to}>")).await.starts_with("250"));
    let first = b"Subject: bdat\r\n\r\n.line with a dot\r\n";
    c.raw(format!("BDAT {}\r\n", first.len()).as_bytes()).await;
    c.raw(first).await;
    assert!(c.reply().await.starts_with("250"));
    let last = b"last line\r\n";
    c.raw(format!("BDAT {} LAST\r\n", last.len()).as_bytes())
        .await;
    c.raw(last).await;
    let r = c.reply().await;
    assert!(r.starts_with("250 2.0.0 Ok: queued as "), "{r}");
    let text = eml_to(&relay.dir.path().join("main"), &to).await;
    assert!(
        text.contains("\r\n.line with a dot\r\nlast line\r\n"),
        "{text}"
    );
}

#[tokio::test]
async fn an_address_outside_allowed_networks_is_banned_told_why_and_the_log_names_the_account() {
    let server = "allowed_networks = [\"127.0.0.1/32\"]\nauth_from_anywhere = true\n\
                  auth_fail_limit = 2\n";
    let relay = relay(server, &accounts());
    let mut s = session_from("127.0.0.2", relay.addr).await;
    assert!(
        say(&mut s, &plain("payroll", "guess1"))
            .await
            .starts_with("535")
    );
    assert!(
        say(&mut s, &plain("payroll", "guess2"))
            .await
            .starts_with("535")
    );
    let closing = read_reply(&mut s).await;
    assert!(
        closing.starts_with("421 4.7.0 Too many failed logins from 127.0.0.2; try again after "),
        "{closing}"
    );
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut again = BufReader::new(sock.connect(relay.addr).await.unwrap());
    let refused = read_reply(&mut again).await;
    assert!(
        refused.starts_with("421 4.7.0 Too many failed logins from 127.0.0.2; try again after "),
        "{refused}"
    );
    assert!(!refused.contains("not allowed to relay"), "{refused}");
    relay.wait_log("code=421").await;
    let log = relay.log();
    assert!(
        log.lines().any(|l| l.contains("event=rejected")
            && l.contains("client=127.0.0.2")
            && l.contains("account=payroll")
            && l.contains("code=421")),
        "{log}"
    );
    // The machine itself (127.0.0.1) is not affected.
    let (mut c, greeting) = Client::connect(relay.addr).await;
    assert!(greeting.starts_with("220"), "{greeting}");
    assert!(c.cmd("NOOP").await.starts_with("250"));
}
