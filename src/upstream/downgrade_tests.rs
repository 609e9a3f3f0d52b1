use super::*;
use mail_parser::MimeHeaders;

fn caps(eight_bit_mime: bool, smtputf8: bool) -> Capabilities {
    Capabilities {
        eight_bit_mime,
        smtputf8,
        ..Default::default()
    }
}

fn parse(m: &[u8]) -> mail_parser::Message<'_> {
    MessageParser::default().parse(m).expect("parses")
}

const PLAIN: &[u8] = "From: Jörg Müller <payroll@example.test>\r\nTo: b@example.net\r\n\
Subject: Lohnabrechnung für März\r\n\r\nGrüße aus Zürich,\r\n.a line\r\nend\r\n"
    .as_bytes();

#[test]
fn only_an_8bit_message_toward_a_7bit_server_needs_converting() {
    assert!(needed(PLAIN, &caps(false, false)));
    assert!(!needed(b"Subject: x\r\n\r\nascii\r\n", &caps(false, false)));
    let body_only = "Subject: x\r\n\r\nGrüße\r\n".as_bytes();
    assert!(!needed(body_only, &caps(true, false)));
    assert!(needed(PLAIN, &caps(true, false)), "8-bit header fields");
    assert!(!needed(PLAIN, &caps(true, true)));
}

#[test]
fn an_8bit_message_without_mime_fields_becomes_quoted_printable_text() {
    let out = to_seven_bit(PLAIN);
    assert!(out.is_ascii(), "{}", String::from_utf8_lossy(&out));
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("MIME-Version: 1.0\r\n"), "{text}");
    assert!(
        text.contains("Content-Transfer-Encoding: quoted-printable\r\n"),
        "{text}"
    );
    let m = parse(&out);
    assert_eq!(m.subject(), Some("Lohnabrechnung für März"));
    let from = m.from().unwrap().first().unwrap();
    assert_eq!(from.name(), Some("Jörg Müller"));
    assert_eq!(from.address(), Some("payroll@example.test"));
    assert_eq!(
        m.body_text(0).unwrap(),
        "Grüße aus Zürich,\r\n.a line\r\nend\r\n"
    );
}

#[test]
fn every_8bit_part_of_a_multipart_message_is_reencoded_and_decodes_to_the_same_bytes() {
    let binary: Vec<u8> = (0u8..=255).cycle().take(3000).collect();
    let mut m = b"From: a@example.test\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\npreamble\r\n--b1\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        .to_vec();
    m.extend_from_slice("Ça coûte 5 €\r\n".as_bytes());
    m.extend_from_slice(b"--b1\r\nContent-Type: application/octet-stream\r\n\r\n");
    m.extend_from_slice(&binary);
    m.extend_from_slice(b"\r\n--b1\r\nContent-Type: text/plain\r\n\r\nascii part\r\n--b1--\r\n");
    let out = to_seven_bit(&m);
    assert!(out.is_ascii(), "{}", String::from_utf8_lossy(&out));
    let parsed = parse(&out);
    assert_eq!(parsed.body_text(0).unwrap(), "Ça coûte 5 €");
    let attachment = parsed.attachment(0).unwrap();
    assert_eq!(attachment.contents(), binary.as_slice());
    assert_eq!(parsed.body_text(1).unwrap(), "ascii part");
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.contains("Content-Transfer-Encoding: base64\r\n"),
        "{text}"
    );
    assert!(!text.contains("Content-Transfer-Encoding: 8bit"), "{text}");
}

#[test]
fn a_7bit_message_is_left_as_it_is() {
    let m = b"Subject: x\r\n\r\nascii\r\n";
    assert_eq!(to_seven_bit(m), m);
}

#[test]
fn an_8bit_attachment_name_is_written_as_an_rfc_2231_parameter() {
    let m = "From: a@example.test\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n\
--b1\r\nContent-Type: application/pdf; name=\"Lohn März.pdf\"\r\n\
Content-Disposition: attachment; filename=\"Lohn März.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b1--\r\n"
        .as_bytes();
    let out = to_seven_bit(m);
    assert!(out.is_ascii(), "{}", String::from_utf8_lossy(&out));
    let text = String::from_utf8_lossy(&out);
    assert!(
        !text.contains("=?"),
        "no encoded words in parameters: {text}"
    );
    let parsed = parse(&out);
    assert_eq!(
        parsed.attachment(0).unwrap().attachment_name(),
        Some("Lohn März.pdf")
    );
}
