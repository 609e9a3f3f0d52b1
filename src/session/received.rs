//! The `Received:` trace header (RFC 5321 4.4) the relay prepends to every accepted message.
//! Pure formatting: the caller supplies the clock reading.

use std::net::SocketAddr;

pub struct Trace<'a> {
    pub helo: Option<&'a str>,
    pub peer: SocketAddr,
    pub hostname: &'a str,
    pub esmtp: bool,
    pub tls: bool,
    pub queue_id: &'a str,
    /// Set only for a single recipient, as Postfix does, so a multi-recipient message does not
    /// disclose its Bcc list.
    pub for_rcpt: Option<&'a str>,
    pub date: chrono::DateTime<chrono::FixedOffset>,
}

pub fn received(t: &Trace) -> String {
    let with = match (t.esmtp, t.tls) {
        (true, true) => "ESMTPS",
        (true, false) => "ESMTP",
        (false, true) => "SMTPS",
        (false, false) => "SMTP",
    };
    let helo = t.helo.map(sanitize).unwrap_or_else(|| "unknown".into());
    let mut h = format!(
        "Received: from {helo} ([{ip}])\r\n\tby {host} (smarthost) with {with} id {id}",
        ip = t.peer.ip(),
        host = t.hostname,
        id = t.queue_id
    );
    if let Some(r) = t.for_rcpt {
        h.push_str(&format!("\r\n\tfor <{}>", sanitize(r)));
    }
    h.push_str(&format!(
        "; {}\r\n",
        t.date.format("%a, %d %b %Y %H:%M:%S %z")
    ));
    h
}

/// Keeps client-supplied text from breaking the header (no CR/LF, no controls).
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(255)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_header_names_helo_ip_protocol_and_id() {
        let date = chrono::DateTime::parse_from_rfc2822("Tue, 24 Nov 2026 10:00:00 +0000").unwrap();
        let h = received(&Trace {
            helo: Some("payroll.lan\r\nBcc: evil"),
            peer: "127.0.0.1:4000".parse().unwrap(),
            hostname: "relay.test",
            esmtp: true,
            tls: true,
            queue_id: "ABC",
            for_rcpt: Some("b@y.test"),
            date,
        });
        assert_eq!(
            h,
            "Received: from payroll.lan??Bcc: evil ([127.0.0.1])\r\n\tby relay.test (smarthost) with ESMTPS id ABC\r\n\tfor <b@y.test>; Tue, 24 Nov 2026 10:00:00 +0000\r\n"
        );
    }
}
