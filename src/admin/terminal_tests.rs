//! Issue 18 finding 9: `queue list` and `queue show` never print a control character that came
//! from a client or an upstream (an ESC sequence, or a newline that fakes a line).

use super::*;
use crate::envelope::{Envelope, Recipient};
use crate::spool::{NewMessage, Spool};

const ESC_AND_FAKE_LINE: &str = "x\x1b[2J\x1b[H\nroute: attacker";

async fn spool_with_hostile_message(dir: &std::path::Path) -> Config {
    let spool_dir = dir.join("spool");
    let (spool, _fresh) = Spool::open(&spool_dir).unwrap();
    spool
        .put(NewMessage {
            id: "HOSTILE1".into(),
            envelope: Envelope {
                mail_from: format!("a{ESC_AND_FAKE_LINE}@x.test"),
                body: Default::default(),
                smtputf8: false,
                ret: None,
                envid: Some(ESC_AND_FAKE_LINE.into()),
                recipients: vec![Recipient {
                    address: format!("b{ESC_AND_FAKE_LINE}@y.test"),
                    orcpt: None,
                    notify: None,
                }],
                upstream: None,
                client: None,
            },
            body: format!("Subject: {ESC_AND_FAKE_LINE}\r\n\r\nbody\r\n").into_bytes(),
        })
        .await
        .unwrap();
    let text = format!(
        "[spool]\ndir = \"{}\"\n[[upstream]]\nname = \"o\"\nkind = \"file\"\ndir = \"o\"\n",
        spool_dir.display()
    );
    Config::load(&text, std::path::Path::new("t.toml")).unwrap()
}

fn assert_terminal_safe(out: &str) {
    assert!(!out.contains('\x1b') && !out.contains('\r'), "{out:?}");
    assert!(
        !out.lines().any(|l| l.starts_with("route: attacker")),
        "{out}"
    );
}

#[tokio::test]
async fn queue_show_and_list_escape_control_characters_from_the_envelope_and_headers() {
    let dir = tempfile::tempdir().unwrap();
    let config = spool_with_hostile_message(dir.path()).await;
    let show = queue(&config, &QueueCommand::Show("HOSTILE1".into())).unwrap();
    assert_terminal_safe(&show);
    assert!(
        show.contains(r"ENVID: x\u{1b}[2J\u{1b}[H\nroute: attacker"),
        "{show}"
    );
    assert!(show.contains("Subject: x"), "{show}");
    assert_terminal_safe(&queue(&config, &QueueCommand::List).unwrap());
}
