//! The `Received:` trace header (RFC 5321 4.4) the relay prepends to every accepted message,
//! with the protocol names of RFC 3848 (`ESMTPA`, `ESMTPSA` for a logged-in client) and RFC
//! 6531 (`UTF8SMTP`, `UTF8SMTPS`, `UTF8SMTPA`, `UTF8SMTPSA`). Pure formatting: the caller
//! supplies the clock reading.

use std::net::SocketAddr;

pub struct Trace<'a> {
    pub helo: Option<&'a str>,
    pub peer: SocketAddr,
    pub hostname: &'a str,
    pub esmtp: bool,
    pub tls: bool,
    /// The client logged in (AUTH).
    pub authenticated: bool,
    /// The transaction used SMTPUTF8.
    pub utf8: bool,
    pub queue_id: &'a str,
    /// Set only for a single recipient, as Postfix does, so a multi-recipient message does not
    /// disclose its Bcc list.
    pub for_rcpt: Option<&'a str>,
    pub date: chrono::DateTime<chrono::FixedOffset>,
}

/// The `with` protocol name: RFC 3848 and RFC 6531 (registered in the IANA "Mail
/// Transmission Types" table).
fn protocol(t: &Trace) -> String {
    let base = match (t.utf8, t.esmtp) {
        (true, _) => "UTF8SMTP",
        (false, true) => "ESMTP",
        (false, false) => "SMTP",
    };
    let s = if t.tls { "S" } else { "" };
    // RFC 3848 defines the A suffix for ESMTP only; plain HELO has no AUTH.
    let a = if t.authenticated && (t.esmtp || t.utf8) {
        "A"
    } else {
        ""
    };
    format!("{base}{s}{a}")
}

pub fn received(t: &Trace) -> String {
    let with = protocol(t);
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
            authenticated: false,
            utf8: false,
            queue_id: "ABC",
            for_rcpt: Some("b@y.test"),
            date,
        });
        assert_eq!(
            h,
            "Received: from payroll.lan??Bcc: evil ([127.0.0.1])\r\n\tby relay.test (smarthost) with ESMTPS id ABC\r\n\tfor <b@y.test>; Tue, 24 Nov 2026 10:00:00 +0000\r\n"
        );
    }

    fn with_of(esmtp: bool, tls: bool, authenticated: bool, utf8: bool) -> String {
        protocol(&Trace {
            helo: None,
            peer: "127.0.0.1:4000".parse().unwrap(),
            hostname: "relay.test",
            esmtp,
            tls,
            authenticated,
            utf8,
            queue_id: "ABC",
            for_rcpt: None,
            date: chrono::DateTime::parse_from_rfc2822("Tue, 24 Nov 2026 10:00:00 +0000").unwrap(),
        })
    }

    #[test]
    fn a_logged_in_session_is_esmtpa_or_esmtpsa() {
        assert_eq!(with_of(true, false, true, false), "ESMTPA");
        assert_eq!(with_of(true, true, true, false), "ESMTPSA");
        assert_eq!(with_of(true, true, false, false), "ESMTPS");
    }

    #[test]
    fn an_smtputf8_transaction_is_utf8smtp_with_its_suffixes() {
        assert_eq!(with_of(true, false, false, true), "UTF8SMTP");
        assert_eq!(with_of(true, true, false, true), "UTF8SMTPS");
        assert_eq!(with_of(true, false, true, true), "UTF8SMTPA");
        assert_eq!(with_of(true, true, true, true), "UTF8SMTPSA");
    }
}
