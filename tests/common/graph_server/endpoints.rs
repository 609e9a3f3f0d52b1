//! The Graph stand-in's endpoints (see the header of `graph_server.rs` for the documents each
//! follows): routing, the bearer check, sendMail, the draft path and the upload session.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hyper::Method;
use serde_json::{Value, json};

use super::{
    ATTACHMENT_LIMIT, CHUNK_ALIGN, CHUNK_LIMIT, Call, Ctx, Draft, REQUEST_LIMIT, Reply, Sent,
    Session, State, Step, TokenServer, UPLOAD_LIMIT,
};

type Result<T> = std::result::Result<T, Reply>;

pub(super) fn route(ctx: &Ctx, call: &Call) -> Reply {
    let segs: Vec<&str> = call.segments.iter().map(String::as_str).collect();
    let outcome = match segs.as_slice() {
        ["upload", session] => upload(ctx, call, session),
        ["v1.0", "users", mailbox, rest @ ..] => graph(ctx, call, mailbox, rest),
        _ => Err(unknown_segment(&segs)),
    };
    outcome.unwrap_or_else(|r| r)
}

fn unknown_segment(segs: &[&str]) -> Reply {
    let last = segs.last().copied().unwrap_or("");
    Reply::error(
        400,
        "BadRequest",
        &format!("Resource not found for the segment '{last}'."),
    )
}

/// A call to `/v1.0/users/{mailbox}/...`.
fn graph(ctx: &Ctx, call: &Call, mailbox: &str, rest: &[&str]) -> Result<Reply> {
    let client = authenticate(call)?;
    let post = call.method == Method::POST;
    if post && call.body.len() > REQUEST_LIMIT {
        return Err(Reply::too_large());
    }
    let mut st = ctx.state.lock().unwrap();
    if post && let Some(r) = take_injected(&mut st) {
        return Err(r);
    }
    if st.denied_clients.contains(&client) {
        return Err(Reply::error(
            403,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        ));
    }
    let Some(mb) = st.mailbox(mailbox) else {
        return Err(unknown_user(call, mailbox, rest));
    };
    let base = ctx.base.as_str();
    match (&call.method, rest) {
        (&Method::GET, []) => Ok(user(&mb)),
        (&Method::POST, ["sendMail"]) => send_mail(&mut st, &mb, &client, call),
        (&Method::POST, ["messages"]) => create_draft(&mut st, &mb, call, base),
        (&Method::GET, ["messages", id]) => get_draft(&st, &mb, id),
        (&Method::DELETE, ["messages", id]) => delete_draft(&mut st, &mb, id),
        (&Method::POST, ["messages", id, "attachments"]) => add_attachment(&mut st, &mb, id, call),
        (&Method::POST, ["messages", id, "attachments", "createUploadSession"]) => {
            create_session(&mut st, &mb, id, call, base)
        }
        (&Method::POST, ["messages", id, "send"]) => send_draft(&mut st, &mb, id, &client),
        (_, [] | ["sendMail"] | ["messages", ..]) => Err(Reply::error(
            405,
            "BadRequest",
            "The HTTP method is not allowed on this resource.",
        )),
        _ => Err(unknown_segment(rest)),
    }
}

/// The client_id of the request's bearer token, or 401 `InvalidAuthenticationToken`.
fn authenticate(call: &Call) -> Result<String> {
    let header = call
        .headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let token = header.and_then(|h| {
        let (scheme, token) = h.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    let message = match token {
        None | Some("") => "Access token is empty.",
        Some(t) => match TokenServer::get().token_client(t) {
            Some(client) => return Ok(client),
            None => "Access token has expired or is not yet valid.",
        },
    };
    Err(Reply::error(401, "InvalidAuthenticationToken", message).header(
        "www-authenticate",
        "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"".into(),
    ))
}

fn take_injected(st: &mut State) -> Option<Reply> {
    let inj = st.inject.as_mut().filter(|i| i.times > 0)?;
    inj.times -= 1;
    let message = match inj.code.as_str() {
        "ApplicationThrottled" => "Application is over its MailboxConcurrency limit.",
        "TooManyRequests" => "Please retry again later.",
        "ServiceUnavailable" => "Service Unavailable",
        "InvalidAuthenticationToken" => "Access token has expired or is not yet valid.",
        "ErrorAccessDenied" => "Access is denied. Check credentials and try again.",
        "MailboxNotEnabledForRESTAPI" => {
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise."
        }
        "ErrorInvalidRecipients" => "At least one recipient isn't valid.",
        _ => "Injected by the Graph stand-in.",
    };
    let reply = Reply::error(inj.status, &inj.code, message);
    Some(match inj.retry_after {
        Some(s) => reply.header("retry-after", s.to_string()),
        None => reply,
    })
}

/// A mailbox known to the server: (object id, address).
type Mb = (String, String);

impl State {
    fn mailbox(&self, key: &str) -> Option<Mb> {
        self.mailboxes
            .iter()
            .find(|m| m.id.eq_ignore_ascii_case(key) || m.mail.eq_ignore_ascii_case(key))
            .map(|m| (m.id.clone(), m.mail.clone()))
    }

    /// Answers 503 once if `step` was armed with `fail_step`.
    fn step(&mut self, step: Step) -> Result<()> {
        if self.steps.remove(&step) {
            return Err(Reply::error(
                503,
                "ServiceUnavailable",
                "The service is temporarily unavailable.",
            ));
        }
        Ok(())
    }

    fn draft(&self, mb: &Mb, id: &str) -> Result<&Draft> {
        self.drafts
            .get(id)
            .filter(|d| d.mailbox == mb.1)
            .ok_or_else(item_not_found)
    }

    fn send_as(&self, mb: &Mb) -> Result<()> {
        if self.denied_send_as.contains(&mb.1.to_ascii_lowercase()) {
            return Err(Reply::error(
                403,
                "ErrorSendAsDenied",
                "The user account which was used to submit this request does not have the right to send mail on behalf of the specified sending account.",
            ));
        }
        Ok(())
    }

    /// Drops the draft `id` and its upload sessions.
    fn remove_draft(&mut self, id: &str) -> Option<Draft> {
        self.sessions.retain(|_, s| s.draft != id);
        self.drafts.remove(id)
    }
}

fn unknown_user(call: &Call, mailbox: &str, rest: &[&str]) -> Reply {
    if call.method == Method::GET && rest.is_empty() {
        return Reply::error(
            404,
            "Request_ResourceNotFound",
            &format!(
                "Resource '{mailbox}' does not exist or one of its queried reference-property objects are not present."
            ),
        );
    }
    Reply::error(
        404,
        "ErrorInvalidUser",
        &format!("The requested user '{mailbox}' is invalid."),
    )
}

fn item_not_found() -> Reply {
    Reply::error(
        404,
        "ErrorItemNotFound",
        "The specified object was not found in the store.",
    )
}

fn bad_request(message: &str) -> Reply {
    Reply::error(400, "BadRequest", message)
}

fn user(mb: &Mb) -> Reply {
    let local = mb.1.split('@').next().unwrap_or("");
    Reply::json(
        200,
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
            "id": mb.0,
            "mail": mb.1,
            "userPrincipalName": mb.1,
            "displayName": local,
        }),
    )
}

/// The MIME message of a `Content-Type: text/plain` base64 body.
fn mime_body(call: &Call) -> Result<Vec<u8>> {
    let ct = call
        .headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = ct.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("text/plain") {
        return Err(Reply::error(
            415,
            "UnsupportedMediaType",
            "The Graph stand-in implements only the MIME form (Content-Type: text/plain).",
        ));
    }
    let text: Vec<u8> = call
        .body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let mime = B64.decode(&text).map_err(|_| {
        Reply::error(
            400,
            "ErrorMimeContentInvalidBase64String",
            "Invalid base64 string for MIME content.",
        )
    })?;
    let parsed = mail_parser::MessageParser::default().parse(&mime);
    if mime.is_empty() || parsed.is_none_or(|m| m.headers().is_empty()) {
        return Err(Reply::error(
            400,
            "ErrorMimeContentInvalid",
            "MIME content is empty or malformed.",
        ));
    }
    Ok(mime)
}

fn has_recipients(mime: &[u8]) -> bool {
    let Some(m) = mail_parser::MessageParser::default().parse(mime) else {
        return false;
    };
    [m.to(), m.cc(), m.bcc()]
        .into_iter()
        .flatten()
        .any(|a| a.iter().any(|addr| addr.address().is_some()))
}

fn require_recipients(mime: &[u8]) -> Result<()> {
    if has_recipients(mime) {
        return Ok(());
    }
    Err(Reply::error(
        400,
        "ErrorInvalidRecipients",
        "At least one recipient isn't valid., A message can't be sent because it contains no recipients.",
    ))
}

fn send_mail(st: &mut State, mb: &Mb, client: &str, call: &Call) -> Result<Reply> {
    let mime = mime_body(call)?;
    st.send_as(mb)?;
    require_recipients(&mime)?;
    st.sent.push(Sent {
        mailbox: mb.1.clone(),
        client_id: client.to_string(),
        mime,
        attachments: Vec::new(),
        via_draft: false,
    });
    Ok(Reply::empty(202))
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}{:024x}AAA=", rand::random::<u128>() >> 32)
}

fn create_draft(st: &mut State, mb: &Mb, call: &Call, base: &str) -> Result<Reply> {
    st.step(Step::CreateDraft)?;
    let mime = mime_body(call)?;
    let parsed = mail_parser::MessageParser::default().parse(&mime);
    let subject = parsed.as_ref().and_then(|m| m.subject()).unwrap_or("");
    let message_id = parsed.as_ref().and_then(|m| m.message_id()).unwrap_or("");
    let id = new_id("AAMkAD");
    let body = json!({
        "@odata.context": format!("{base}/v1.0/$metadata#users('{}')/messages/$entity", mb.1),
        "id": id,
        "isDraft": true,
        "subject": subject,
        "internetMessageId": format!("<{message_id}>"),
        "hasAttachments": false,
    });
    st.drafts.insert(
        id,
        Draft {
            mailbox: mb.1.clone(),
            mime,
            attachments: Vec::new(),
        },
    );
    Ok(Reply::json(201, body))
}

fn get_draft(st: &State, mb: &Mb, id: &str) -> Result<Reply> {
    let d = st.draft(mb, id)?;
    Ok(Reply::json(
        200,
        json!({ "id": id, "isDraft": true, "hasAttachments": !d.attachments.is_empty() }),
    ))
}

fn delete_draft(st: &mut State, mb: &Mb, id: &str) -> Result<Reply> {
    st.draft(mb, id)?;
    st.remove_draft(id);
    Ok(Reply::empty(204))
}

fn json_body(call: &Call) -> Result<Value> {
    serde_json::from_slice(&call.body)
        .map_err(|_| bad_request("Unable to read JSON request payload."))
}

fn add_attachment(st: &mut State, mb: &Mb, id: &str, call: &Call) -> Result<Reply> {
    st.step(Step::AddAttachment)?;
    st.draft(mb, id)?;
    let v = json_body(call)?;
    if v["@odata.type"].as_str() != Some("#microsoft.graph.fileAttachment") {
        return Err(bad_request(
            "The stand-in takes only '#microsoft.graph.fileAttachment' attachments.",
        ));
    }
    let (Some(name), Some(content)) = (v["name"].as_str(), v["contentBytes"].as_str()) else {
        return Err(bad_request(
            "A fileAttachment needs 'name' and 'contentBytes'.",
        ));
    };
    let bytes = B64
        .decode(content)
        .map_err(|_| bad_request("Invalid base64 string for 'contentBytes'."))?;
    if bytes.len() > ATTACHMENT_LIMIT {
        return Err(Reply::too_large());
    }
    let ctype = v["contentType"]
        .as_str()
        .unwrap_or("application/octet-stream")
        .to_string();
    let size = bytes.len();
    let att_id = new_id("AAMkADatt");
    let draft = st.drafts.get_mut(id).ok_or_else(item_not_found)?;
    draft
        .attachments
        .push((name.to_string(), ctype.clone(), bytes));
    Ok(Reply::json(
        201,
        json!({
            "@odata.type": "#microsoft.graph.fileAttachment",
            "id": att_id,
            "name": name,
            "contentType": ctype,
            "size": size,
            "isInline": v["isInline"].as_bool().unwrap_or(false),
        }),
    ))
}

fn create_session(st: &mut State, mb: &Mb, id: &str, call: &Call, base: &str) -> Result<Reply> {
    st.step(Step::AddAttachment)?;
    st.draft(mb, id)?;
    let v = json_body(call)?;
    let item = if v["AttachmentItem"].is_object() {
        &v["AttachmentItem"]
    } else {
        &v["attachmentItem"]
    };
    let kind = item["attachmentType"].as_str().unwrap_or("");
    let (Some(name), Some(size)) = (item["name"].as_str(), item["size"].as_u64()) else {
        return Err(bad_request("AttachmentItem needs 'name' and 'size'."));
    };
    if !kind.eq_ignore_ascii_case("file") || name.is_empty() {
        return Err(bad_request("AttachmentItem must be a named 'file'."));
    }
    if size < ATTACHMENT_LIMIT as u64 {
        return Err(Reply::error(
            400,
            "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
            "Attachment size should not be less than the minimum size of 3 MB; add it with a POST to attachments.",
        ));
    }
    if size > UPLOAD_LIMIT {
        return Err(Reply::too_large());
    }
    let sid = format!("{:032x}", rand::random::<u128>());
    let token = format!("{:032x}", rand::random::<u128>());
    let url = format!("{base}/upload/{sid}?authtoken={token}");
    st.sessions.insert(
        sid,
        Session {
            token,
            mailbox: mb.1.clone(),
            draft: id.to_string(),
            name: name.to_string(),
            content_type: item["contentType"]
                .as_str()
                .unwrap_or("application/octet-stream")
                .to_string(),
            size,
            data: Vec::new(),
        },
    );
    Ok(Reply::json(
        201,
        json!({
            "@odata.context": format!("{base}/v1.0/$metadata#microsoft.graph.uploadSession"),
            "uploadUrl": url,
            "expirationDateTime": expiry(),
            "nextExpectedRanges": ["0-"],
        }),
    ))
}

fn expiry() -> String {
    let t = chrono::Utc::now() + chrono::Duration::minutes(15);
    let ticks = t.timestamp_subsec_nanos() / 100;
    format!("{}.{ticks:07}Z", t.format("%Y-%m-%dT%H:%M:%S"))
}

fn send_draft(st: &mut State, mb: &Mb, id: &str, client: &str) -> Result<Reply> {
    st.step(Step::Send)?;
    st.draft(mb, id)?;
    st.send_as(mb)?;
    require_recipients(&st.draft(mb, id)?.mime)?;
    let draft = st.remove_draft(id).ok_or_else(item_not_found)?;
    st.sent.push(Sent {
        mailbox: mb.1.clone(),
        client_id: client.to_string(),
        mime: draft.mime,
        attachments: draft.attachments,
        via_draft: true,
    });
    Ok(Reply::empty(202))
}

/// `PUT` (a chunk) or `DELETE` (cancel) on an upload URL. Pre-authenticated: no bearer token.
fn upload(ctx: &Ctx, call: &Call, sid: &str) -> Result<Reply> {
    if call.headers.contains_key(hyper::header::AUTHORIZATION) {
        return Err(Reply::error(
            401,
            "InvalidAuthenticationToken",
            "The upload URL is pre-authenticated; do not send an Authorization header.",
        ));
    }
    let mut st = ctx.state.lock().unwrap();
    let Some(session) = st.sessions.get(sid) else {
        return Err(Reply::error(
            404,
            "uploadSessionNotFound",
            "Upload session not found.",
        ));
    };
    let token = call
        .query
        .split('&')
        .find_map(|kv| kv.strip_prefix("authtoken="));
    if token != Some(session.token.as_str()) {
        return Err(Reply::error(
            401,
            "InvalidAuthenticationToken",
            "The upload URL's authtoken is missing or wrong.",
        ));
    }
    match call.method {
        Method::DELETE => {
            st.sessions.remove(sid);
            Ok(Reply::empty(204))
        }
        Method::PUT => {
            st.step(Step::UploadChunk)?;
            put_chunk(&mut st, call, sid, &ctx.base)
        }
        _ => Err(Reply::error(
            405,
            "BadRequest",
            "Use PUT to upload or DELETE to cancel.",
        )),
    }
}

fn range_error(status: u16, message: &str) -> Reply {
    Reply::error(status, "invalidRange", message)
}

/// `bytes {start}-{end}/{total}`.
fn content_range(call: &Call) -> Result<(u64, u64, u64)> {
    let bad = || range_error(400, "Content-Range must be 'bytes {start}-{end}/{total}'.");
    let v = call
        .headers
        .get(hyper::header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(bad)?;
    let (range, total) = v
        .trim()
        .strip_prefix("bytes ")
        .and_then(|r| r.split_once('/'))
        .ok_or_else(bad)?;
    let (a, b) = range.split_once('-').ok_or_else(bad)?;
    let num = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
    Ok((num(a)?, num(b)?, num(total)?))
}

/// Checks one chunk against the session: its range, its length, its size rules.
fn check_chunk(call: &Call, s: &Session) -> Result<(u64, u64)> {
    let (a, b, total) = content_range(call)?;
    if total != s.size {
        return Err(range_error(
            400,
            "Declared total size for this fragment is different from that of the upload session.",
        ));
    }
    let next = s.data.len() as u64;
    if a != next || b < a || b >= total {
        return Err(range_error(
            416,
            &format!(
                "The uploaded fragment is out of order or overlaps; next expected byte is {next}."
            ),
        ));
    }
    let length = call
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let Some(length) = length else {
        return Err(Reply::error(
            411,
            "invalidRequest",
            "A Content-Length header is required.",
        ));
    };
    let len = b - a + 1;
    if length != len || call.body.len() as u64 != len {
        return Err(range_error(
            400,
            "Content-Length and the body must match the Content-Range.",
        ));
    }
    if len > CHUNK_LIMIT as u64 {
        return Err(range_error(400, "A fragment may not exceed 4 MB."));
    }
    if b + 1 < total && len % CHUNK_ALIGN as u64 != 0 {
        return Err(range_error(
            400,
            "Every fragment but the last must be a multiple of 320 KiB (327,680 bytes).",
        ));
    }
    Ok((b, total))
}

fn put_chunk(st: &mut State, call: &Call, sid: &str, base: &str) -> Result<Reply> {
    let session = st.sessions.get_mut(sid).ok_or_else(item_not_found)?;
    let (end, total) = check_chunk(call, session)?;
    session.data.extend_from_slice(&call.body);
    if end + 1 < total {
        return Ok(Reply::json(
            200,
            json!({
                "@odata.context": format!("{base}/api/v2.0/$metadata#Users('{}')/Messages('{}')/AttachmentSessions/$entity", session.mailbox, session.draft),
                "ExpirationDateTime": expiry(),
                "nextExpectedRanges": [(end + 1).to_string()],
            }),
        ));
    }
    let s = st.sessions.remove(sid).ok_or_else(item_not_found)?;
    let draft = st.drafts.get_mut(&s.draft).ok_or_else(item_not_found)?;
    draft.attachments.push((s.name, s.content_type, s.data));
    let location = format!(
        "{base}/api/v2.0/Users('{}')/Messages('{}')/Attachments('{}')",
        s.mailbox,
        s.draft,
        new_id("AAMkADatt")
    );
    Ok(Reply::empty(201).header("location", location))
}
