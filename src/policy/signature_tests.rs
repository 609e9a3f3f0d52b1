use super::*;

const PDF: &[u8] = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";

fn pdf_b64() -> String {
    let b = B64.encode(PDF);
    b.as_bytes()
        .chunks(76)
        .map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap()))
        .collect()
}

fn mixed() -> Vec<u8> {
    let html = base64_lines("<html><body><p>Salaire de novembre</p></body></html>".as_bytes());
    format!(
        "From: a@x.test\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"MIX\"\r\n\r\n\
         --MIX\r\nContent-Type: multipart/alternative; boundary=\"ALT\"\r\n\r\n\
         --ALT\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
         Gr=C3=BC=C3=9Fe aus Z=C3=BCrich\r\n\
         --ALT\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\
         --ALT--\r\n\
         --MIX\r\nContent-Type: application/pdf; name=\"slip.pdf\"\r\nContent-Disposition: attachment; filename=\"slip.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}--MIX--\r\n",
        String::from_utf8(html).unwrap(),
        pdf_b64()
    )
    .into_bytes()
}

fn parse(msg: &[u8]) -> mail_parser::Message<'_> {
    MessageParser::default().parse(msg).unwrap()
}

#[test]
fn plain_text_message_gets_the_signature_at_the_end() {
    let out = append(
        b"Subject: s\r\n\r\nHello\r\n",
        Some("-- \nACME SA, Lausanne"),
        None,
    )
    .unwrap();
    assert_eq!(
        out,
        b"Subject: s\r\n\r\nHello\r\n\r\n-- \r\nACME SA, Lausanne\r\n"
    );
}

#[test]
fn alternative_parts_both_get_it_and_the_attachment_is_untouched() {
    let msg = mixed();
    let out = append(
        &msg,
        Some("Bien à vous, ACME"),
        Some("<p>Bien &agrave; vous, ACME</p>"),
    )
    .unwrap();
    let m = parse(&out);
    let text = m.body_text(0).unwrap();
    assert!(
        text.contains("Grüße aus Zürich") && text.trim_end().ends_with("Bien à vous, ACME"),
        "{text}"
    );
    let html = m.body_html(0).unwrap();
    assert!(
        html.contains("<p>Bien &agrave; vous, ACME</p>\r\n</body>"),
        "{html}"
    );
    let att = m.attachment(0).unwrap();
    assert_eq!(att.contents(), PDF);
    // The attachment's raw bytes, headers and encoding included, are identical.
    let tail = format!(
        "Content-Transfer-Encoding: base64\r\n\r\n{}--MIX--\r\n",
        pdf_b64()
    );
    assert!(out.ends_with(tail.as_bytes()));
    // Transfer encodings are kept.
    let s = String::from_utf8_lossy(&out);
    assert!(s.contains("Bien =C3=A0 vous, ACME"), "{s}");
}

#[test]
fn latin1_part_gets_a_latin1_signature() {
    let msg = b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGr\xfc\xdfe\r\n";
    let out = append(msg, Some("Genève"), None).unwrap();
    assert!(
        out.ends_with(b"Gr\xfc\xdfe\r\n\r\nGen\xe8ve\r\n"),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
}

#[test]
fn a_message_without_a_text_part_is_left_alone() {
    let msg =
        b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n";
    assert_eq!(
        append(msg, Some("sig"), Some("<p>sig</p>")),
        Err(Skipped::NoTextPart)
    );
}

#[test]
fn malformed_mime_never_panics() {
    let cases: &[&[u8]] = &[
        b"Content-Type: multipart/mixed; boundary=X\r\n\r\n--X\r\nContent-Type: text/plain\r\n\r\nunterminated",
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n",
        b"Content-Type: text/plain; charset=koi8-r\r\n\r\n\xc1\xc2\r\n",
        b"\r\n",
        b"",
        b"Content-Type: multipart/alternative; boundary=\"\"\r\n\r\n--\r\n--\r\n",
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n=\r\n=Z=\r\n",
    ];
    for c in cases {
        let _ = append(c, Some("sig"), Some("<b>sig</b>"));
    }
}

#[test]
fn quoted_printable_round_trips() {
    let text = "Grüße = 100%, une très longue ligne qui dépasse largement les soixante-seize caractères autorisés par la RFC\r\nfin \r\n";
    assert_eq!(qp_decode(&qp_encode(text.as_bytes())), text.as_bytes());
    for line in qp_encode(text.as_bytes()).split(|b| *b == b'\n') {
        assert!(line.len() <= 77, "{}", String::from_utf8_lossy(line));
    }
}
