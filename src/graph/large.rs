//! Messages over Graph's 4 MB request limit: the message without its attachments becomes a
//! draft (`POST /users/{mailbox}/messages`, MIME), each attachment is added (directly up to
//! 3 MB, through `attachments/createUploadSession` in chunks of a multiple of 320 KiB above),
//! then `POST /messages/{id}/send`. Each step is recorded ([`super::state`]): a draft left by a
//! failed attempt is deleted, and one whose `send` was requested is checked before anything
//! is sent again.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use mail_parser::{MessageParser, MimeHeaders};
use reqwest::Method;
use serde_json::json;

use super::error::GraphError;
use super::state::Draft;
use super::{Body, GraphClient, ONE_REQUEST};

/// Upload chunks: a multiple of 320 KiB (327,680 bytes), under the 4 MB a request may carry.
pub const CHUNK: usize = 327_680 * 12;
/// Attachments under 3 MB go in one request; from 3 MB on in an upload session (Graph refuses
/// a session for a smaller one).
const DIRECT_MAX: usize = 3 * 1024 * 1024 - 1;

struct Attachment {
    name: String,
    content_type: String,
    content_id: Option<String>,
    inline: bool,
    bytes: Vec<u8>,
}

/// A draft from an earlier attempt: `Some(result)` when it settled this transaction.
pub(super) async fn resume(
    c: &GraphClient,
    mailbox: &str,
    key: &str,
) -> Result<Option<Result<(), GraphError>>, GraphError> {
    let Some(draft) = c.drafts.get(key).await else {
        return Ok(None);
    };
    let url = c.user_url(&draft.mailbox, &format!("/messages/{}", draft.id));
    if !draft.sending {
        // Never finished: start over with a fresh draft.
        delete(c, &url).await;
        c.drafts.forget(key).await;
        return Ok(None);
    }
    match c.call(Method::GET, &url, Body::Empty).await {
        // Still a draft: Graph did not take the send; ask again.
        Ok(_) => {
            let sent = c
                .call(Method::POST, &format!("{url}/send"), Body::Empty)
                .await;
            if sent.is_ok() {
                c.drafts.forget(key).await;
            }
            Ok(Some(sent.map(|_| ())))
        }
        // Gone from the drafts: it was sent (to Sent Items) before the last attempt ended.
        Err(GraphError::Refused { status: 404, .. }) => {
            tracing::info!(upstream = %c.upstream, %mailbox, "Graph had already sent draft {}", draft.id);
            c.drafts.forget(key).await;
            Ok(Some(Ok(())))
        }
        Err(e) => Err(e),
    }
}

pub(super) async fn send(
    c: &GraphClient,
    mailbox: &str,
    mime: &[u8],
    key: &str,
) -> Result<(), GraphError> {
    let (reduced, attachments) = split(mime)?;
    let b64 = B64.encode(&reduced);
    if b64.len() > ONE_REQUEST {
        return Err(too_large("its text and inline parts alone are over 4 MB"));
    }
    let created = c
        .call(
            Method::POST,
            &c.user_url(mailbox, "/messages"),
            Body::Mime(b64),
        )
        .await?;
    let id = created
        .json::<serde_json::Value>()
        .await
        .ok()
        .and_then(|v| v.get("id")?.as_str().map(str::to_string))
        .ok_or_else(|| GraphError::Local("Graph created a draft without an id".into()))?;
    let mut draft = Draft {
        id,
        mailbox: mailbox.to_string(),
        sending: false,
    };
    c.drafts.put(key, &draft).await?;
    let url = c.user_url(mailbox, &format!("/messages/{}", draft.id));
    if let Err(e) = attach_all(c, &url, &attachments).await {
        delete(c, &url).await;
        c.drafts.forget(key).await;
        return Err(e);
    }
    draft.sending = true;
    c.drafts.put(key, &draft).await?;
    c.call(Method::POST, &format!("{url}/send"), Body::Empty)
        .await?;
    c.drafts.forget(key).await;
    Ok(())
}

async fn attach_all(c: &GraphClient, url: &str, list: &[Attachment]) -> Result<(), GraphError> {
    for a in list {
        if a.bytes.len() <= DIRECT_MAX {
            let body = json!({
                "@odata.type": "#microsoft.graph.fileAttachment",
                "name": a.name,
                "contentType": a.content_type,
                "contentBytes": B64.encode(&a.bytes),
                "isInline": a.inline,
                "contentId": a.content_id,
            });
            c.call(
                Method::POST,
                &format!("{url}/attachments"),
                Body::Json(body),
            )
            .await?;
        } else {
            upload(c, url, a).await?;
        }
    }
    Ok(())
}

/// One attachment through an upload session (the PUTs carry no token: the URL is
/// pre-authenticated, as the documentation requires).
async fn upload(c: &GraphClient, url: &str, a: &Attachment) -> Result<(), GraphError> {
    let item = json!({ "AttachmentItem": {
        "attachmentType": "file",
        "name": a.name,
        "size": a.bytes.len(),
        "contentType": a.content_type,
        "isInline": a.inline,
        "contentId": a.content_id,
    }});
    let session = c
        .call(
            Method::POST,
            &format!("{url}/attachments/createUploadSession"),
            Body::Json(item),
        )
        .await?;
    let upload_url = session
        .json::<serde_json::Value>()
        .await
        .ok()
        .and_then(|v| v.get("uploadUrl")?.as_str().map(str::to_string))
        .ok_or_else(|| GraphError::Local("Graph opened an upload session without a URL".into()))?;
    let total = a.bytes.len();
    for (i, chunk) in a.bytes.chunks(CHUNK).enumerate() {
        let start = i * CHUNK;
        let end = start + chunk.len() - 1;
        c.put_chunk(
            &upload_url,
            format!("bytes {start}-{end}/{total}"),
            chunk.to_vec(),
        )
        .await?;
    }
    Ok(())
}

async fn delete(c: &GraphClient, url: &str) {
    if let Err(e) = c.call(Method::DELETE, url, Body::Empty).await
        && !matches!(e, GraphError::Refused { status: 404, .. })
    {
        tracing::warn!(upstream = %c.upstream, "could not delete an unsent Graph draft: {e}");
    }
}

fn too_large(why: &str) -> GraphError {
    GraphError::Refused {
        status: 413,
        code: "MessageTooLarge".into(),
        message: format!("the message cannot go through Microsoft Graph: {why}"),
        retry_after: None,
    }
}

/// The message without the parts that carry a file name, and those parts decoded.
fn split(mime: &[u8]) -> Result<(Vec<u8>, Vec<Attachment>), GraphError> {
    let msg = MessageParser::default()
        .parse(mime)
        .ok_or_else(|| too_large("it is not a MIME message Graph can take"))?;
    let mut cuts = Vec::new();
    let mut out = Vec::new();
    for part in msg.attachments() {
        let Some(name) = part.attachment_name() else {
            continue;
        };
        let range = part_range(mime, part.offset_header as usize, part.offset_end as usize)
            .ok_or_else(|| too_large("its attachment is not inside a multipart"))?;
        cuts.push(range);
        out.push(Attachment {
            name: name.to_string(),
            content_type: part
                .content_type()
                .map(|t| match t.subtype() {
                    Some(s) => format!("{}/{s}", t.ctype()),
                    None => t.ctype().to_string(),
                })
                .unwrap_or_else(|| "application/octet-stream".into()),
            content_id: part.content_id().map(str::to_string),
            inline: part.content_disposition().is_some_and(|d| d.is_inline()),
            bytes: part.contents().to_vec(),
        });
    }
    cuts.sort_by_key(|r| r.start);
    let mut reduced = Vec::with_capacity(mime.len());
    let mut pos = 0;
    for r in cuts {
        if r.start < pos {
            continue;
        }
        reduced.extend_from_slice(&mime[pos..r.start]);
        pos = r.end;
    }
    reduced.extend_from_slice(&mime[pos..]);
    Ok((reduced, out))
}

/// The bytes of one part with the delimiter line before it: from the line break ahead of
/// `--boundary` up to the line break ahead of the next delimiter.
fn part_range(mime: &[u8], header: usize, end: usize) -> Option<std::ops::Range<usize>> {
    let before = &mime[..header.min(mime.len())];
    let mut line_start = None;
    for (i, _) in before.iter().enumerate().rev() {
        if before[i..].starts_with(b"--") && (i == 0 || before[i - 1] == b'\n') {
            line_start = Some(i);
            break;
        }
    }
    let dashes = line_start?;
    let eol = dashes + before[dashes..].iter().position(|b| *b == b'\n')?;
    let delimiter = trim_eol(&before[dashes..eol]);
    let start = if dashes >= 2 && &mime[dashes - 2..dashes] == b"\r\n" {
        dashes - 2
    } else {
        dashes.checked_sub(1)?
    };
    let from = end.min(mime.len()).saturating_sub(2);
    let next = find(&mime[from..], delimiter)? + from;
    let stop = if next >= 2 && &mime[next - 2..next] == b"\r\n" {
        next - 2
    } else {
        next - 1
    };
    (stop > start).then_some(start..stop)
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let mut l = line;
    while let [rest @ .., b'\r' | b' ' | b'\t'] = l {
        l = rest;
    }
    l
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"From: a@x.test\r\nTo: b@y.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BB\"\r\n\r\npreamble\r\n--BB\r\nContent-Type: text/plain\r\n\r\nHello\r\n--BB\r\nContent-Type: application/pdf; name=\"r.pdf\"\r\nContent-Disposition: attachment; filename=\"r.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--BB--\r\n";

    #[test]
    fn attachments_are_taken_out_and_decoded_and_the_rest_stays_a_valid_multipart() {
        let (reduced, atts) = split(MSG).unwrap();
        assert_eq!(atts.len(), 1);
        assert_eq!(atts[0].name, "r.pdf");
        assert_eq!(atts[0].content_type, "application/pdf");
        assert_eq!(atts[0].bytes, b"%PDF-1.4\n");
        let text = String::from_utf8(reduced).unwrap();
        assert!(
            text.ends_with("--BB\r\nContent-Type: text/plain\r\n\r\nHello\r\n--BB--\r\n"),
            "{text}"
        );
        assert!(!text.contains("r.pdf"), "{text}");
    }

    #[test]
    fn upload_chunks_are_multiples_of_320_kib_under_4_mb() {
        assert_eq!(CHUNK % 327_680, 0);
        const { assert!(CHUNK < 4 * 1024 * 1024) };
    }
}
