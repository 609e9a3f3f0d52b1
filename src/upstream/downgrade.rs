//! The 7-bit form of a message for an upstream that offers neither 8BITMIME nor SMTPUTF8
//! (RFC 6152 3: convert or fail). Every MIME leaf part whose body holds 8-bit octets is
//! re-encoded (quoted-printable for text, base64 for the rest) with its
//! `Content-Transfer-Encoding` said, and every header field with 8-bit octets becomes RFC 2047
//! encoded words (address fields keep their addresses and encode the display names). Pure:
//! bytes in, bytes out; the caller signs the result again (the DKIM signature made at
//! acceptance covers the 8-bit form).
//!
//! The MIME structure comes from mail-parser (its offsets into the raw message); the encoders
//! are mail-builder's, so nothing here is a hand-written codec.

use std::ops::Range;

use mail_builder::encoders::base64::Base64Encoder;
use mail_builder::encoders::quoted_printable::QuotedPrintableEncoder;
use mail_builder::headers::Header;
use mail_builder::headers::address::Address as BuiltAddress;
use mail_builder::headers::content_type::ContentType as BuiltContentType;
use mail_builder::headers::text::Text;
use mail_parser::{HeaderValue, MessageParser, MessagePart, PartType};

use super::client::Capabilities;

/// Whether `message` must be converted before it goes to a server with `caps`: it has 8-bit
/// octets and the server offers no 8BITMIME, or 8-bit header fields and no SMTPUTF8.
pub fn needed(message: &[u8], caps: &Capabilities) -> bool {
    if message.is_ascii() {
        return false;
    }
    let head_end = memchr::memmem::find(message, b"\r\n\r\n").map_or(message.len(), |i| i + 2);
    !caps.eight_bit_mime || (!caps.smtputf8 && !message[..head_end].is_ascii())
}

/// The message in 7 bits: 8-bit bodies re-encoded, 8-bit header fields as encoded words.
pub fn to_seven_bit(message: &[u8]) -> Vec<u8> {
    let Some(parsed) = MessageParser::default().parse(message) else {
        return message.to_vec();
    };
    let mut edits: Vec<(Range<usize>, Vec<u8>)> = Vec::new();
    for (i, part) in parsed.parts.iter().enumerate() {
        header_edits(message, part, &mut edits);
        body_edits(message, part, i == 0, &mut edits);
    }
    apply(message, edits)
}

fn has_8bit(bytes: &[u8]) -> bool {
    !bytes.is_ascii()
}

fn span(start: u32, end: u32) -> Range<usize> {
    start as usize..end as usize
}

/// Each 8-bit header field of `part`, written again in 7 bits.
fn header_edits(message: &[u8], part: &MessagePart, edits: &mut Vec<(Range<usize>, Vec<u8>)>) {
    for h in &part.headers {
        let field = span(h.offset_field, h.offset_end);
        let Some(raw) = message.get(field.clone()) else {
            continue;
        };
        if !has_8bit(raw) {
            continue;
        }
        let name = h.name.as_str();
        let value = message
            .get(span(h.offset_start, h.offset_end))
            .map(|v| unfold(&String::from_utf8_lossy(v)))
            .unwrap_or_default();
        let mut out = format!("{name}:").into_bytes();
        out.push(b' ');
        let column = name.len() + 2;
        if let Some(ct) = content_type_of(&h.value) {
            ct.write_header(&mut out, column);
        } else if let Some(list) = address_of(&h.value).filter(|l| !l.is_empty()) {
            BuiltAddress::new_list(list).write_header(&mut out, column);
        } else {
            Text::new(value).write_header(&mut out, column);
        }
        edits.push((field, out));
    }
}

/// The addresses of an address field, display names as text (encoded when written).
fn address_of<'a>(value: &'a HeaderValue<'a>) -> Option<Vec<BuiltAddress<'a>>> {
    let HeaderValue::Address(a) = value else {
        return None;
    };
    let list = a
        .iter()
        .filter_map(|addr| {
            let email = addr.address.as_deref()?;
            Some(BuiltAddress::new_address(addr.name.as_deref(), email))
        })
        .collect();
    Some(list)
}

/// A `Content-Type` or `Content-Disposition` with its parameters: an 8-bit parameter value (a
/// file name) is written the RFC 2231 way (`filename*=utf-8''...`), as encoded words are not
/// allowed there.
fn content_type_of<'a>(value: &'a HeaderValue<'a>) -> Option<BuiltContentType<'a>> {
    let HeaderValue::ContentType(ct) = value else {
        return None;
    };
    let c_type = match ct.subtype() {
        Some(sub) => format!("{}/{sub}", ct.ctype()),
        None => ct.ctype().to_string(),
    };
    let attributes = ct.attributes().unwrap_or_default();
    Some(
        attributes
            .iter()
            .fold(BuiltContentType::new(c_type), |b, a| {
                b.attribute(a.name.as_ref(), a.value.as_ref())
            }),
    )
}

/// A header value on one line: folding whitespace becomes one space.
fn unfold(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A leaf part with an 8-bit body: the body re-encoded and its transfer encoding said; for the
/// top part of a message without MIME fields, the fields that make it MIME.
fn body_edits(
    message: &[u8],
    part: &MessagePart,
    top: bool,
    edits: &mut Vec<(Range<usize>, Vec<u8>)>,
) {
    let body = span(part.offset_body, part.offset_end);
    let Some(raw) = message.get(body.clone()) else {
        return;
    };
    if !has_8bit(raw) {
        return;
    }
    let text = match &part.body {
        PartType::Multipart(_) => return,
        PartType::Message(_) => {
            // A message/rfc822 part must stay 7bit/8bit (RFC 2046 5.2.1): its own parts are
            // converted instead.
            edits.push((body, to_seven_bit(raw)));
            return;
        }
        PartType::Text(_) | PartType::Html(_) => true,
        PartType::Binary(_) | PartType::InlineBinary(_) => false,
    };
    // The line end before a boundary belongs to the boundary: it stays as it is.
    let (content, tail) = match raw.strip_suffix(b"\r\n") {
        Some(c) => (c, b"\r\n".as_slice()),
        None => (raw, b"".as_slice()),
    };
    let mut encoded = if text {
        QuotedPrintableEncoder::new()
            .preserve_line_breaks()
            .encode(content)
            .unwrap_or_default()
    } else {
        Base64Encoder::new()
            .wrap_lines()
            .encode(content)
            .unwrap_or_default()
    };
    if !encoded.ends_with(b"\r\n") && !tail.is_empty() {
        encoded.extend_from_slice(b"\r\n");
    } else if encoded.ends_with(b"\r\n") && tail.is_empty() {
        encoded.truncate(encoded.len() - 2);
    }
    edits.push((body, encoded));
    let cte = if text { "quoted-printable" } else { "base64" };
    let line = format!("Content-Transfer-Encoding: {cte}\r\n").into_bytes();
    let existing = part.headers.iter().find(|h| {
        h.name
            .as_str()
            .eq_ignore_ascii_case("Content-Transfer-Encoding")
    });
    match existing {
        Some(h) => edits.push((span(h.offset_field, h.offset_end), line)),
        None => {
            let at = header_end(message, part);
            let mut fields = Vec::new();
            let has = |n: &str| {
                part.headers
                    .iter()
                    .any(|h| h.name.as_str().eq_ignore_ascii_case(n))
            };
            if top && !has("MIME-Version") {
                fields.extend_from_slice(b"MIME-Version: 1.0\r\n");
            }
            if top && !has("Content-Type") {
                fields.extend_from_slice(b"Content-Type: text/plain; charset=utf-8\r\n");
            }
            fields.extend_from_slice(&line);
            edits.push((at..at, fields));
        }
    }
}

/// Where a new field of `part` goes: after its last field (before the empty line).
fn header_end(message: &[u8], part: &MessagePart) -> usize {
    let last = part.headers.iter().map(|h| h.offset_end as usize).max();
    last.unwrap_or_else(|| {
        let body = part.offset_body as usize;
        match message.get(body.saturating_sub(2)..body) {
            Some(b"\r\n") => body - 2,
            _ => body,
        }
    })
}

/// `message` with each range replaced; ranges never overlap (fields and bodies are apart).
fn apply(message: &[u8], mut edits: Vec<(Range<usize>, Vec<u8>)>) -> Vec<u8> {
    edits.sort_by_key(|(r, _)| (r.start, r.end));
    let mut out = Vec::with_capacity(message.len() + message.len() / 3);
    let mut at = 0;
    for (range, bytes) in edits {
        if range.start < at {
            continue;
        }
        out.extend_from_slice(&message[at..range.start]);
        out.extend_from_slice(&bytes);
        at = range.end;
    }
    out.extend_from_slice(&message[at..]);
    out
}

#[cfg(test)]
#[path = "downgrade_tests.rs"]
mod tests;
