//! The company signature, appended MIME-aware: to the text/plain and text/html body parts (both
//! parts of a multipart/alternative), never to attachments or other parts. Each part keeps its
//! transfer encoding and charset: quoted-printable and base64 bodies are decoded, signed and
//! encoded again. A message that cannot be parsed, or a part whose charset cannot carry the
//! signature, is left exactly as it was (with a warning), never mangled.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use mail_parser::{Encoding, MessageParser, MimeHeaders};

/// Why the signature was not added (the message is then relayed unchanged).
#[derive(Debug, PartialEq, Eq)]
pub enum Skipped {
    Unparseable,
    NoTextPart,
}

pub fn append(msg: &[u8], text: Option<&str>, html: Option<&str>) -> Result<Vec<u8>, Skipped> {
    let parsed = MessageParser::default()
        .parse(msg)
        .ok_or(Skipped::Unparseable)?;
    let mut ids: Vec<u32> = parsed
        .text_body
        .iter()
        .chain(parsed.html_body.iter())
        .copied()
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut edits: Vec<(usize, usize, Vec<u8>)> = Vec::new();
    for id in ids {
        let Some(part) = parsed.parts.get(id as usize) else {
            continue;
        };
        if part
            .content_disposition()
            .is_some_and(|d| d.is_attachment())
        {
            continue;
        }
        let (ctype, sub) = match part.content_type() {
            Some(ct) => (
                ct.ctype().to_ascii_lowercase(),
                ct.subtype().unwrap_or("").to_ascii_lowercase(),
            ),
            None => ("text".into(), "plain".into()),
        };
        let signature = match (ctype.as_str(), sub.as_str()) {
            ("text", "plain") => text.map(|s| (s, false)),
            ("text", "html") => html.map(|s| (s, true)),
            _ => None,
        };
        let Some((sig, is_html)) = signature else {
            continue;
        };
        let charset = part
            .content_type()
            .and_then(|ct| ct.attribute("charset"))
            .unwrap_or("us-ascii")
            .to_ascii_lowercase();
        let (start, end) = (part.offset_body as usize, part.offset_end as usize);
        if start > end || end > msg.len() {
            continue;
        }
        match sign_part(&msg[start..end], part.encoding, &charset, sig, is_html) {
            Some(new) => edits.push((start, end, new)),
            None => tracing::warn!(
                "signature not added to a part in charset {charset}: it cannot carry the signature text"
            ),
        }
    }
    if edits.is_empty() {
        return Err(Skipped::NoTextPart);
    }
    let mut out = Vec::with_capacity(msg.len() + 1024);
    let mut pos = 0;
    edits.sort_by_key(|e| e.0);
    for (start, end, new) in edits {
        out.extend_from_slice(&msg[pos..start]);
        out.extend_from_slice(&new);
        pos = end;
    }
    out.extend_from_slice(&msg[pos..]);
    Ok(out)
}

/// New raw bytes for one part body, or `None` when its charset cannot carry `sig`.
fn sign_part(
    raw: &[u8],
    encoding: Encoding,
    charset: &str,
    sig: &str,
    is_html: bool,
) -> Option<Vec<u8>> {
    // The line break before a MIME boundary belongs to the boundary: keep it aside.
    let content_len = raw.len()
        - raw
            .iter()
            .rev()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
    let (content, tail) = raw.split_at(content_len);
    let mut decoded = match encoding {
        Encoding::Base64 => B64
            .decode(
                content
                    .iter()
                    .copied()
                    .filter(|b| !b.is_ascii_whitespace())
                    .collect::<Vec<u8>>(),
            )
            .ok()?,
        Encoding::QuotedPrintable => qp_decode(content),
        Encoding::None => content.to_vec(),
    };
    let sig = to_charset(&sig.replace("\r\n", "\n").replace('\n', "\r\n"), charset)?;
    if encoding == Encoding::None && charset == "us-ascii" && !sig.is_ascii() {
        return None;
    }
    let trimmed = decoded.len()
        - decoded
            .iter()
            .rev()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
    let had_newline = trimmed < decoded.len();
    decoded.truncate(trimmed);
    if is_html {
        let lower = decoded.to_ascii_lowercase();
        let at = rfind(&lower, b"</body>").unwrap_or(decoded.len());
        let mut block = sig.clone();
        block.extend_from_slice(b"\r\n");
        if at == decoded.len() {
            block.insert(0, b'\n');
            block.insert(0, b'\r');
        }
        decoded.splice(at..at, block);
    } else {
        decoded.extend_from_slice(b"\r\n\r\n");
        decoded.extend_from_slice(&sig);
    }
    if had_newline {
        decoded.extend_from_slice(b"\r\n");
    }
    let mut out = match encoding {
        Encoding::Base64 => {
            let mut lines = base64_lines(&decoded);
            lines.truncate(lines.len().saturating_sub(2));
            lines
        }
        Encoding::QuotedPrintable => qp_encode(&decoded),
        Encoding::None => decoded,
    };
    if tail.is_empty() {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(tail);
    Some(out)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// The signature in the part's charset; `None` when the charset is one we cannot write.
fn to_charset(s: &str, charset: &str) -> Option<Vec<u8>> {
    match charset {
        "utf-8" | "utf8" | "us-ascii" | "ascii" => Some(s.as_bytes().to_vec()),
        "iso-8859-1" | "latin1" | "iso-8859-15" | "windows-1252" | "cp1252" => Some(
            s.chars()
                .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                .collect(),
        ),
        _ => None,
    }
}

fn base64_lines(data: &[u8]) -> Vec<u8> {
    let text = B64.encode(data);
    let mut out = Vec::with_capacity(text.len() + text.len() / 38);
    for chunk in text.as_bytes().chunks(76) {
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out
}

pub fn qp_decode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            b'=' if data[i + 1..].starts_with(b"\r\n") => i += 3,
            b'=' if data[i + 1..].starts_with(b"\n") => i += 2,
            b'=' if i + 2 < data.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&data[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'=');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// RFC 2045 quoted-printable with CRLF hard breaks and soft breaks before 76 characters.
pub fn qp_encode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() * 11 / 10);
    let lines: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
    for (n, line) in lines.iter().enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut col = 0;
        for (i, &b) in line.iter().enumerate() {
            let last = i + 1 == line.len();
            let literal =
                (b == b' ' || b == b'\t') && !last || (33..=126).contains(&b) && b != b'=';
            let piece = if literal {
                vec![b]
            } else {
                format!("={b:02X}").into_bytes()
            };
            if col + piece.len() > 75 {
                out.extend_from_slice(b"=\r\n");
                col = 0;
            }
            out.extend_from_slice(&piece);
            col += piece.len();
        }
        if n + 1 < lines.len() {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

#[cfg(test)]
#[path = "signature_tests.rs"]
mod tests;
