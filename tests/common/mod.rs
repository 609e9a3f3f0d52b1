//! Test support: a relay on 127.0.0.1:0 with a temporary spool, a tiny SMTP client, the real
//! Postfix upstream from `tests/harness/`, and readers for what its sink received.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use smarthost::Relay;
use smarthost::config::Config;
use smarthost::spool::QueueEntry;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub mod certs;
pub mod console;
pub mod graph_server;
pub mod scripted;
pub mod token_server;

pub const WAIT: Duration = Duration::from_secs(60);

/// The Postfix + Dovecot upstream, started once per test binary (the script is idempotent and
/// safe to call from several processes at once).
pub struct Harness {
    pub env: HashMap<String, String>,
}

impl Harness {
    pub fn get() -> &'static Harness {
        static H: OnceLock<Harness> = OnceLock::new();
        H.get_or_init(|| {
            let script =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/harness/upstream-postfix.sh");
            let out = std::process::Command::new("bash")
                .arg(&script)
                .arg("start")
                .output()
                .expect("run harness");
            assert!(
                out.status.success(),
                "the Postfix harness did not start:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let out = std::process::Command::new("bash")
                .arg(&script)
                .args(["env", "--plain"])
                .output()
                .expect("env");
            let env = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
                .collect();
            Harness { env }
        })
    }

    pub fn var(&self, k: &str) -> &str {
        self.env
            .get(k)
            .unwrap_or_else(|| panic!("harness env lacks {k}"))
    }

    pub fn ca(&self) -> &str {
        self.var("HARNESS_CA_CERT")
    }

    pub fn sink_dir(&self) -> PathBuf {
        PathBuf::from(self.var("HARNESS_SINK_DIR"))
    }

    /// The message the sink got for `rcpt` (which tests make unique), waiting up to [`WAIT`].
    pub async fn wait_for(&self, rcpt: &str) -> SinkMessage {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(m) = self.find(rcpt) {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "no message for {rcpt} reached the sink"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn find(&self, rcpt: &str) -> Option<SinkMessage> {
        for entry in std::fs::read_dir(self.sink_dir()).ok()?.flatten() {
            let p = entry.path();
            if p.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&p) else {
                continue;
            };
            let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            let hit = json["rcpt_to"]
                .as_array()
                .is_some_and(|a| a.iter().any(|r| r.as_str() == Some(rcpt)));
            if hit {
                let eml = std::fs::read(p.with_extension("eml")).ok()?;
                let off = json["data_offset"].as_u64().unwrap_or(0) as usize;
                return Some(SinkMessage {
                    json,
                    data: eml[off..].to_vec(),
                });
            }
        }
        None
    }
}

pub struct SinkMessage {
    pub json: serde_json::Value,
    /// The message as the sink received it (Postfix's Received: on top).
    pub data: Vec<u8>,
}

impl SinkMessage {
    pub fn headers(&self) -> String {
        let end = find(&self.data, b"\r\n\r\n").unwrap_or(self.data.len());
        String::from_utf8_lossy(&self.data[..end]).into_owned()
    }
    pub fn body(&self) -> &[u8] {
        let end = find(&self.data, b"\r\n\r\n")
            .map(|i| i + 4)
            .unwrap_or(self.data.len());
        &self.data[end..]
    }
    /// The topmost Received: header (Postfix's), unfolded.
    pub fn top_received(&self) -> String {
        let h = self.headers().replace("\r\n\t", " ").replace("\r\n ", " ");
        h.lines()
            .find(|l| l.starts_with("Received:"))
            .unwrap_or("")
            .to_string()
    }
    pub fn mail_params(&self) -> Vec<String> {
        strings(&self.json["mail_params"])
    }
    pub fn rcpt_params(&self, rcpt: &str) -> Vec<String> {
        let rcpts = self.json["rcpts"].as_array().cloned().unwrap_or_default();
        rcpts
            .iter()
            .find(|r| r["address"] == rcpt)
            .map(|r| strings(&r["params"]))
            .unwrap_or_default()
    }
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The unfolded value of the first header field `name` in a header block.
pub fn header(headers: &str, name: &str) -> Option<String> {
    let unfolded = headers.replace("\r\n\t", " ").replace("\r\n ", " ");
    unfolded.split("\r\n").find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:08x}", rand::random::<u32>())
}

/// A relay on 127.0.0.1:0 with its spool in a temp dir (kept on disk when the test fails, for
/// inspection; see `TestRelay::dir`).
pub struct TestRelay {
    pub relay: Relay,
    pub dir: tempfile::TempDir,
}

impl TestRelay {
    /// `upstreams` is TOML for one or more `[[upstream]]` sections; `server` extra `[server]` keys.
    pub async fn start(upstreams: &str, server: &str) -> TestRelay {
        let dir = tempfile::Builder::new()
            .prefix("smarthost-test-")
            .tempdir()
            .unwrap();
        let text = format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\nhostname = \"relay.test\"\n{server}\n[spool]\ndir = \"{}\"\n\n{upstreams}",
            dir.path().join("spool").display()
        );
        let config =
            Config::load(&text, Path::new("test.toml")).unwrap_or_else(|e| panic!("{e}\n{text}"));
        // The same configuration as a file, for the command-line tools.
        std::fs::write(dir.path().join("smarthost.toml"), &text).unwrap();
        let relay = Relay::start(config).await.expect("relay starts");
        TestRelay { relay, dir }
    }

    /// As [`TestRelay::start`], but the configuration's source is its file, so the console
    /// can edit it.
    pub async fn start_from_file(upstreams: &str, server: &str) -> TestRelay {
        let t = TestRelay::start(upstreams, server).await;
        let TestRelay { relay, dir } = t;
        relay.shutdown().await;
        let path = dir.path().join("smarthost.toml");
        let deadline = Instant::now() + WAIT;
        loop {
            let config = Config::load_file(&path).unwrap();
            match Relay::start(config).await {
                Ok(relay) => return TestRelay { relay, dir },
                Err(smarthost::StartError::Spool(smarthost::spool::SpoolError::Locked {
                    ..
                })) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(e) => panic!("start failed: {e}"),
            }
        }
    }

    /// Stops the relay gracefully and starts a new one on the same configuration and spool.
    pub async fn restart(self) -> TestRelay {
        let TestRelay { relay, dir } = self;
        relay.shutdown().await;
        let text = std::fs::read_to_string(dir.path().join("smarthost.toml")).unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            let config = Config::load(&text, Path::new("test.toml")).unwrap();
            match Relay::start(config).await {
                Ok(relay) => return TestRelay { relay, dir },
                // The old spool writer lets go of the lock once its last handle is dropped.
                Err(smarthost::StartError::Spool(smarthost::spool::SpoolError::Locked {
                    ..
                })) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(e) => panic!("restart failed: {e}"),
            }
        }
    }

    /// Waits for the first delivery attempt of the first queued message and returns the reply
    /// that keeps its first recipient pending (panics if that recipient is not pending).
    pub async fn first_deferral(&self) -> String {
        let q = self
            .wait_queue("attempt recorded", |q| {
                q.first().is_some_and(|e| e.attempts >= 1)
            })
            .await;
        match &q[0].rcpts[0].1 {
            smarthost::spool::RcptState::Pending {
                last_reply: Some(r),
            } => r.clone(),
            other => panic!("the recipient must stay pending, got {other:?}"),
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("smarthost.toml")
    }

    /// Runs `smarthost ARGS --config <this relay's config>`; returns (exit code, stdout+stderr).
    pub fn cli(&self, args: &[&str]) -> (i32, String) {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_smarthost"))
            .args(args)
            .arg("--config")
            .arg(self.config_path())
            .output()
            .expect("run smarthost");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }

    pub fn addr(&self) -> SocketAddr {
        self.relay.local_addrs[0]
    }

    pub async fn queue(&self) -> Vec<QueueEntry> {
        self.relay.spool.list().await.unwrap()
    }

    /// Waits until the queue entry for `rcpt` satisfies `pred` (or the queue lacks it, if `None`).
    pub async fn wait_queue(
        &self,
        what: &str,
        pred: impl Fn(&[QueueEntry]) -> bool,
    ) -> Vec<QueueEntry> {
        let deadline = Instant::now() + WAIT;
        loop {
            let q = self.queue().await;
            if pred(&q) {
                return q;
            }
            assert!(
                Instant::now() < deadline,
                "queue never reached: {what}; queue = {q:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A deliberately plain SMTP client for tests: one line out, one reply in.
pub struct Client {
    r: BufReader<tokio::io::ReadHalf<TcpStream>>,
    w: tokio::io::WriteHalf<TcpStream>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> (Client, String) {
        let s = TcpStream::connect(addr).await.expect("connect to relay");
        let (r, w) = tokio::io::split(s);
        let mut c = Client {
            r: BufReader::new(r),
            w,
        };
        let greeting = c.reply().await;
        (c, greeting)
    }

    pub async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = self.r.read_line(&mut line).await.expect("read reply");
            assert!(n > 0, "connection closed; got so far: {all:?}");
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return all;
            }
        }
    }

    pub async fn cmd(&mut self, line: &str) -> String {
        self.w
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
        self.reply().await
    }

    pub async fn raw(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).await.unwrap();
    }

    /// EHLO, MAIL, RCPT..., DATA, message, `.`; returns the final reply.
    pub async fn send(&mut self, mail: &str, rcpts: &[&str], data: &[u8]) -> String {
        assert!(self.cmd("EHLO client.test").await.starts_with("250"));
        let r = self.cmd(&format!("MAIL FROM:{mail}")).await;
        assert!(r.starts_with("250"), "MAIL: {r}");
        for rc in rcpts {
            let r = self.cmd(&format!("RCPT TO:{rc}")).await;
            assert!(r.starts_with("250"), "RCPT {rc}: {r}");
        }
        let r = self.cmd("DATA").await;
        assert!(r.starts_with("354"), "DATA: {r}");
        self.raw(&smarthost::upstream::dot_stuff(data)).await;
        self.reply().await
    }
}

/// A message with a unique subject, CRLF line ends and some lines that need dot-stuffing.
pub fn message(subject: &str) -> Vec<u8> {
    format!(
        "From: Payroll <payroll@example.test>\r\nTo: someone@example.net\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@example.test>\r\n\r\nHello,\r\n.a line starting with a dot\r\n..two dots\r\n\
         Grüße, 8-bit text\r\nend\r\n"
    )
    .into_bytes()
}

/// Queue id from `250 2.0.0 Ok: queued as ID`.
pub fn queue_id(reply: &str) -> String {
    reply.trim().rsplit(' ').next().unwrap().to_string()
}

/// `smarthost run` as a child process on `config` (TOML text written to a temporary dir, where
/// `{dir}` is replaced by that dir), with its stderr collected. Stopped with SIGTERM, by PID,
/// when dropped.
pub struct BinaryRelay {
    pub child: std::process::Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl BinaryRelay {
    pub fn start(config: &str, env: &[(&str, &str)]) -> BinaryRelay {
        use std::io::BufRead;
        let dir = tempfile::Builder::new()
            .prefix("smarthost-bin-")
            .tempdir()
            .unwrap();
        let conf = dir.path().join("smarthost.toml");
        std::fs::write(
            &conf,
            config.replace("{dir}", &dir.path().display().to_string()),
        )
        .unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_smarthost"))
            .args(["run", "--config"])
            .arg(&conf)
            .envs(env.iter().copied())
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if let Some(a) = line.split("listening on ").nth(1) {
                    let _ = tx.send(a.trim().to_string());
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let addr = rx
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("relay did not start:\n{}", log.lock().unwrap()))
            .parse()
            .unwrap();
        BinaryRelay {
            child,
            addr,
            dir,
            log,
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log contains `text`.
    pub async fn wait_log(&self, text: &str) {
        let deadline = Instant::now() + WAIT;
        while !self.log().contains(text) {
            assert!(
                Instant::now() < deadline,
                "no `{text}` in the log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for BinaryRelay {
    fn drop(&mut self) {
        // SAFETY: signals only the child this test started.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// One reply, every line of it, from any stream; what was read so far when the peer closes.
pub async fn read_reply<S: AsyncRead + Unpin>(r: &mut BufReader<S>) -> String {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await.unwrap() == 0 {
            return all;
        }
        all.push_str(&line);
        if line.as_bytes().get(3) != Some(&b'-') {
            return all;
        }
    }
}

/// Sends one command line over any stream and reads its reply.
pub async fn say<S: AsyncRead + AsyncWrite + Unpin>(s: &mut BufReader<S>, line: &str) -> String {
    s.get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .await
        .unwrap();
    read_reply(s).await
}

/// Runs dkimpy (tests/dns/dkim_verify.py) on `message` against the test DNS on 127.0.0.1:5353;
/// its exit code and report.
pub fn dkim_verify(message: &[u8]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.eml");
    std::fs::write(&p, message).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dns/dkim_verify.py");
    let out = std::process::Command::new(script)
        .args(["--dns", "127.0.0.1:5353"])
        .arg(&p)
        .output()
        .expect("run tests/dns/dkim_verify.py");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
