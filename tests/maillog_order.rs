//! The mail log never writes `queued` after `delivered` for one message (issue 19, part 4):
//! `queued` is written by the spool once the message is durable and *before* delivery can see
//! it, so no delivery, however fast, can log first. Shown at the seam itself: when delivery's
//! channel hands a message over, its `queued` line is already in the log. (Its own binary: the
//! test installs the process-wide log subscriber.)

use std::sync::{Arc, Mutex};

use smarthost::envelope::{BodyType, Envelope, Recipient};
use smarthost::spool::{NewMessage, Spool, new_queue_id};

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn message(client: Option<&str>) -> NewMessage {
    NewMessage {
        id: new_queue_id(),
        envelope: Envelope {
            mail_from: "payroll@acme.test".into(),
            body: BodyType::Unspecified,
            smtputf8: false,
            ret: None,
            envid: None,
            recipients: vec![Recipient {
                address: "b@example.net".into(),
                orcpt: None,
                notify: None,
            }],
            upstream: None,
            client: client.map(String::from),
        },
        body: b"Subject: x\r\n\r\nhi\r\n".to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_is_logged_before_delivery_can_see_the_message() {
    let log = Capture(Arc::new(Mutex::new(Vec::new())));
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (spool, mut fresh) = Spool::open(dir.path()).unwrap();
    for _ in 0..20 {
        let msg = message(Some("payroll"));
        let id = msg.id.clone();
        let put = tokio::spawn({
            let spool = spool.clone();
            async move { spool.put(msg).await }
        });
        // What delivery gets: at that moment the queued line must already be written.
        let seen = fresh.recv().await.unwrap();
        assert_eq!(seen.id, id);
        let text = String::from_utf8_lossy(&log.0.lock().unwrap()).into_owned();
        assert!(
            text.lines()
                .any(|l| l.contains("event=queued") && l.contains(&format!("queue_id={id}"))),
            "no queued line for {id} when delivery saw it:\n{text}"
        );
        put.await.unwrap().unwrap();
    }
    // The relay's own notices (no client) are logged as `notice` by delivery, not `queued`.
    let notice = message(None);
    let id = notice.id.clone();
    spool.put(notice).await.unwrap();
    fresh.recv().await.unwrap();
    let text = String::from_utf8_lossy(&log.0.lock().unwrap()).into_owned();
    assert!(!text.contains(&format!("queue_id={id}")), "{text}");
}
