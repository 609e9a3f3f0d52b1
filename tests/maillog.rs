//! The mail log of a full run, read from the binary's JSON log: a message to three recipients
//! through the real Postfix upstream, one delivered, one deferred, one bounced, and the bounce
//! delivered in turn; a refused command logged as `rejected`.

mod common;

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Client, Harness, message, queue_id, unique};
use serde_json::Value;

struct Relay {
    child: std::process::Child,
    lines: mpsc::Receiver<Value>,
    addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Relay {
    fn drop(&mut self) {
        // SIGTERM to the child we started, by its PID.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn start(upstream_extra: &str) -> Relay {
    Harness::get();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("smarthost.toml");
    std::fs::write(
        &conf,
        format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\nhostname = \"relay.test\"\n\n[spool]\ndir = \"{}\"\n\n\
             [retry]\nschedule = [\"1h\"]\n\n\
             [[upstream]]\nname = \"postfix\"\nhost = \"127.0.0.1\"\nport = 2025\nconn = \"plaintext\"\nauth = \"none\"\n{upstream_extra}",
            dir.path().join("spool").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_smarthost"))
        .args(["run", "--log-format", "json", "--config"])
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
            if tx.send(v).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + common::WAIT;
    let addr = loop {
        let v = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("relay starts");
        if let Some(a) = v["message"]
            .as_str()
            .and_then(|m| m.strip_prefix("listening on "))
        {
            break a.parse().unwrap();
        }
    };
    Relay {
        child,
        lines: rx,
        addr,
        _dir: dir,
    }
}

impl Relay {
    /// Mail-log lines until `done` says the story is complete.
    fn maillog_until(&self, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + common::WAIT;
        let mut got = Vec::new();
        while !done(&got) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left.max(Duration::from_millis(1))) {
                Ok(v) if v["target"] == "maillog" => got.push(v),
                Ok(_) => {}
                Err(_) => panic!("mail log incomplete: {got:#?}"),
            }
        }
        got
    }
}

fn find<'a>(lines: &'a [Value], event: &str, field: &str, value: &str) -> Option<&'a Value> {
    lines
        .iter()
        .find(|l| l["event"] == event && l[field].as_str() == Some(value))
}

#[tokio::test]
async fn a_full_run_logs_received_queued_attempt_delivered_deferred_bounced_and_notice() {
    let relay = start("");
    let ok = format!("{}@example.net", unique("log-ok"));
    let later = format!("tempfail-{}@example.net", unique("log"));
    let bad = format!("reject-{}@example.net", unique("log"));
    let (mut c, _) = Client::connect(relay.addr).await;
    let r = c
        .send(
            "<payroll@example.test>",
            &[
                &format!("<{ok}>"),
                &format!("<{later}>"),
                &format!("<{bad}>"),
            ],
            &message("mail log"),
        )
        .await;
    let id = queue_id(&r);
    let refused = c.cmd("RCPT TO:<nobody@example.net>").await;
    assert!(refused.starts_with("503"), "{refused}");

    let lines = relay.maillog_until(|l| {
        find(l, "notice", "queue_id", &id).is_some_and(|n| {
            let bounce = n["notice_id"].as_str().unwrap_or("");
            find(l, "delivered", "queue_id", bounce).is_some()
        }) && find(l, "deferred", "rcpt", &later).is_some()
            && find(l, "delivered", "rcpt", &ok).is_some()
            && l.iter().any(|x| x["event"] == "rejected")
    });
    for event in ["received", "queued", "attempt"] {
        let line = find(&lines, event, "queue_id", &id)
            .unwrap_or_else(|| panic!("no {event}: {lines:#?}"));
        assert_eq!(line["client"], "127.0.0.1", "{line}");
    }
    let queued = find(&lines, "queued", "queue_id", &id).unwrap();
    assert_eq!(queued["from"], "payroll@example.test");
    assert_eq!(queued["rcpts"], 3);
    let delivered = find(&lines, "delivered", "rcpt", &ok).unwrap();
    assert_eq!(
        (
            delivered["queue_id"].as_str(),
            delivered["upstream"].as_str()
        ),
        (Some(id.as_str()), Some("postfix"))
    );
    assert!(
        delivered["reply"].as_str().unwrap().starts_with("250"),
        "{delivered}"
    );
    let deferred = find(&lines, "deferred", "rcpt", &later).unwrap();
    assert!(
        deferred["reply"].as_str().unwrap().starts_with("451 4.3.0"),
        "{deferred}"
    );
    assert!(
        deferred["next"].as_str().is_some_and(|n| n.len() == 19),
        "next attempt time: {deferred}"
    );
    let bounced = find(&lines, "bounced", "rcpt", &bad).unwrap();
    assert!(
        bounced["reply"].as_str().unwrap().starts_with("550 5.1.1"),
        "{bounced}"
    );
    let notice = find(&lines, "notice", "queue_id", &id).unwrap();
    assert_eq!(notice["to"], "payroll@example.test");
    let rejected = lines.iter().find(|l| l["event"] == "rejected").unwrap();
    assert_eq!(rejected["code"], 503);
    assert_eq!(rejected["client"], "127.0.0.1");
    for l in &lines {
        let event = l["event"].as_str().unwrap();
        assert!(
            smarthost::maillog::EVENTS.contains(&event),
            "unknown event {event}"
        );
        assert!(
            !l.to_string().contains("two dots"),
            "no bodies in the log: {l}"
        );
    }
}

#[tokio::test]
async fn mail_held_by_a_quota_is_logged_with_when_it_will_go() {
    let relay = start("[upstream.limits]\nper_hour = 1\n");
    let mut ids = Vec::new();
    for i in 0..2 {
        let (mut c, _) = Client::connect(relay.addr).await;
        let rcpt = format!("<{}@example.net>", unique(&format!("held{i}")));
        ids.push(queue_id(
            &c.send("<payroll@example.test>", &[&rcpt], &message("held"))
                .await,
        ));
    }
    let lines = relay.maillog_until(|l| l.iter().any(|x| x["event"] == "held"));
    let held = lines.iter().find(|l| l["event"] == "held").unwrap();
    assert!(
        ids.iter().any(|id| held["queue_id"] == id.as_str()),
        "{held}"
    );
    assert!(
        held["next"].as_str().is_some_and(|n| n.len() == 19),
        "{held}"
    );
    assert!(
        held["reason"]
            .as_str()
            .unwrap()
            .starts_with("per_hour limit reached (1 of 1 messages); next at "),
        "{held}"
    );
}
