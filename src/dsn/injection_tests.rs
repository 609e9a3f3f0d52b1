//! Issue 18 finding 5: nothing a client put in ENVID, ORCPT or an address, and nothing an
//! upstream put in a reply, can add a line to a notice.

use super::tests::{msg, now};
use super::*;

const INJECTED: &str = "x\r\nX-Injected: yes\r\nAction: delivered";

#[test]
fn control_characters_in_envid_orcpt_and_replies_never_start_a_line_in_a_bounce() {
    let mut m = msg("payroll@x.test", None, None);
    m.envelope.envid = Some(INJECTED.into());
    m.envelope.recipients[0].orcpt = Some(format!("o@y.test{INJECTED}"));
    let reply = format!("550 5.1.1 no{INJECTED}\x1b[2J");
    let failure = Failure {
        index: 0,
        reply: &reply,
        expired: false,
    };
    let n = failure_notice(&m, &[failure], "relay.test", now()).unwrap();
    let text = String::from_utf8_lossy(&n.body);
    for line in text.split("\r\n") {
        assert!(!line.starts_with("X-Injected"), "{text}");
        assert!(
            !line.starts_with("Action:") || line == "Action: failed",
            "{text}"
        );
        assert!(!line.contains('\x1b') && !line.contains('\n'), "{line:?}");
    }
    assert!(
        text.contains("Original-Envelope-Id: x+0D+0AX-Injected: yes+0D+0AAction: delivered\r\n")
    );
}
