//! `smarthost queue ...` beside a running relay: list, show, retry, hold, release, delete.

mod common;

use common::{Client, TestRelay, message, queue_id, unique};

/// A relay whose only upstream is unreachable and retries only every hour, so mail stays put
/// until an operator acts.
async fn stuck_relay() -> TestRelay {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let up = format!(
        "[retry]\nschedule = [\"1h\"]\n\n[[upstream]]\nname = \"down\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         conn = \"plaintext\"\nauth = \"none\"\ntimeout = \"1s\"\n"
    );
    TestRelay::start(&up, "").await
}

async fn queue_one(relay: &TestRelay, sender: &str) -> String {
    let (mut c, _) = Client::connect(relay.addr()).await;
    let rcpt = format!("<{}@example.net>", unique("stuck"));
    let r = c
        .send(&format!("<{sender}>"), &[&rcpt], &message("stuck"))
        .await;
    let id = queue_id(&r);
    relay
        .wait_queue("first attempt made", |q| {
            q.iter().any(|e| e.id == id && e.attempts >= 1)
        })
        .await;
    id
}

#[tokio::test]
async fn list_shows_sender_recipient_state_and_last_reply() {
    let relay = stuck_relay().await;
    let id = queue_one(&relay, "payroll@example.test").await;
    let (code, out) = relay.cli(&["queue", "list"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&id) && out.contains("payroll@example.test"),
        "{out}"
    );
    assert!(out.contains("deferred: cannot connect"), "{out}");
    assert!(out.contains("1 message(s)"), "{out}");
    assert!(!out.contains("not running"), "the relay is running: {out}");
}

#[tokio::test]
async fn show_prints_the_envelope_and_headers() {
    let relay = stuck_relay().await;
    let id = queue_one(&relay, "payroll@example.test").await;
    let (code, out) = relay.cli(&["queue", "show", &id]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Subject: stuck") && out.contains("route: down"),
        "{out}"
    );
}

#[tokio::test]
async fn retry_makes_the_relay_try_again_now() {
    let relay = stuck_relay().await;
    let id = queue_one(&relay, "payroll@example.test").await;
    let (code, out) = relay.cli(&["queue", "retry", &id]);
    assert_eq!(code, 0, "{out}");
    relay
        .wait_queue("second attempt", |q| {
            q.iter().any(|e| e.id == id && e.attempts >= 2)
        })
        .await;
}

#[tokio::test]
async fn a_held_message_is_not_tried_until_released() {
    let relay = stuck_relay().await;
    let id = queue_one(&relay, "payroll@example.test").await;
    assert_eq!(relay.cli(&["queue", "hold", &id]).0, 0);
    assert!(relay.cli(&["queue", "list"]).1.contains("held"));
    // Even an explicit retry of everything skips it.
    assert_eq!(relay.cli(&["queue", "retry", "--all"]).0, 0);
    let due = relay.relay.spool.due(i64::MAX, 10, true).await.unwrap();
    assert!(
        due.iter().all(|m| m.id != id),
        "a held message is never due"
    );
    assert_eq!(relay.cli(&["queue", "release", &id]).0, 0);
    assert_eq!(relay.cli(&["queue", "retry", &id]).0, 0);
    relay
        .wait_queue("tried again after release", |q| {
            q.iter().any(|e| e.id == id && e.attempts >= 2)
        })
        .await;
}

#[tokio::test]
async fn delete_removes_the_message_and_queues_a_bounce_to_its_sender() {
    let relay = stuck_relay().await;
    let id = queue_one(&relay, "payroll@example.test").await;
    let (code, out) = relay.cli(&["queue", "delete", &id]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("bounce"), "{out}");
    let q = relay.queue().await;
    assert!(q.iter().all(|e| e.id != id));
    let bounce = q
        .iter()
        .find(|e| e.mail_from.is_empty())
        .expect("a bounce is queued");
    assert_eq!(bounce.rcpts[0].0, "payroll@example.test");
}

#[tokio::test]
async fn delete_silent_sends_no_bounce() {
    let relay = stuck_relay().await;
    let id = queue_one(&relay, "payroll@example.test").await;
    assert_eq!(relay.cli(&["queue", "delete", &id, "--silent"]).0, 0);
    assert!(relay.queue().await.is_empty());
}

#[tokio::test]
async fn an_unknown_id_is_a_clear_error() {
    let relay = stuck_relay().await;
    let (code, out) = relay.cli(&["queue", "hold", "NOSUCHID"]);
    assert_ne!(code, 0);
    assert!(out.contains("no message NOSUCHID in the queue"), "{out}");
}

#[tokio::test]
async fn commands_say_so_when_the_relay_is_not_running() {
    let relay = stuck_relay().await;
    let id = queue_one(&relay, "payroll@example.test").await;
    let config = relay.config_path();
    let dir = relay.dir.path().to_path_buf();
    relay.relay.shutdown().await;
    // The in-process relay keeps its spool lock until the process ends: copy the spool to a
    // place no relay runs on, as after a stop.
    let spool = dir.join("spool");
    let copy = tempfile::tempdir().unwrap();
    for f in ["spool.db", "spool.db-wal", "spool.db-shm"] {
        if spool.join(f).exists() {
            std::fs::copy(spool.join(f), copy.path().join(f)).unwrap();
        }
    }
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &spool.display().to_string(),
        &copy.path().display().to_string(),
    );
    std::fs::write(copy.path().join("smarthost.toml"), text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_smarthost"))
        .args(["queue", "hold", &id, "--config"])
        .arg(copy.path().join("smarthost.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("smarthost is not running"), "{stdout}");
}
