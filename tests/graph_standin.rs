//! The Microsoft Graph stand-in (tests/common/graph_server.rs) on its own, driven with plain
//! reqwest calls and tokens from the test token service: what it accepts, what it refuses and
//! with which Graph error, and what it records. The smarthost side is tested in tests/graph.rs.

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::graph_server::{CHUNK_ALIGN, GraphServer, REQUEST_LIMIT, Step};
use common::token_server::{SECRET, TokenServer};
use common::unique;
use serde_json::Value;

const MAILBOX: &str = "relay@example.test";

/// A fresh stand-in with one mailbox, a client registered with the token service, and an HTTP
/// client that trusts the stand-in's CA only.
struct Stand {
    graph: GraphServer,
    http: reqwest::Client,
    client_id: String,
    token: String,
}

impl Stand {
    async fn new() -> Stand {
        Stand::with_lifetime(Duration::from_secs(300)).await
    }

    async fn with_lifetime(lifetime: Duration) -> Stand {
        let graph = GraphServer::start();
        graph.add_mailbox(MAILBOX);
        let client_id = unique("graph");
        TokenServer::get().register(&client_id, lifetime, None);
        let ca = std::fs::read(graph.ca_file()).unwrap();
        let http = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
            .build()
            .unwrap();
        let token = token(&client_id).await;
        Stand {
            graph,
            http,
            client_id,
            token,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1.0/users/{MAILBOX}{path}", self.graph.url())
    }

    /// POSTs `body` as Graph's MIME form (text/plain) with this stand's token.
    async fn post_mime(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(&self.token)
            .header("content-type", "text/plain")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    async fn post_json(&self, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

/// A client-credentials token from the token service.
async fn token(client_id: &str) -> String {
    let r: Value = reqwest::Client::new()
        .post(TokenServer::url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"].as_str().unwrap().to_string()
}

fn mime(to: &str) -> Vec<u8> {
    format!(
        "From: {MAILBOX}\r\nTo: {to}\r\nSubject: {}\r\nMessage-ID: <{}@example.test>\r\n\r\nHello\r\n",
        unique("subject"),
        unique("id")
    )
    .into_bytes()
}

/// Base64 in 76-character lines, as in the sendMail page's MIME example.
fn base64_lines(data: &[u8]) -> String {
    let text = B64.encode(data);
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    lines.join("\r\n")
}

/// Status and Graph error code of a response.
async fn error(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    (
        status,
        v["error"]["code"].as_str().unwrap_or("").to_string(),
    )
}

#[tokio::test]
async fn sendmail_with_a_valid_token_is_accepted_and_recorded() {
    let s = Stand::new().await;
    let user: Value = s
        .http
        .get(s.url(""))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(user["mail"], MAILBOX);
    assert!(user["id"].is_string());

    let message = mime("someone@example.net");
    let r = s.post_mime("/sendMail", base64_lines(&message)).await;
    assert_eq!(r.status(), 202);
    assert!(r.bytes().await.unwrap().is_empty());
    let sent = s.graph.wait_sent(1, Duration::from_secs(5)).await;
    assert_eq!(sent[0].mime, message);
    assert_eq!(sent[0].mailbox, MAILBOX);
    assert_eq!(sent[0].client_id, s.client_id);
    assert!(!sent[0].via_draft);
    let req = s.graph.requests().pop().unwrap();
    assert_eq!((req.method.as_str(), req.status), ("POST", 202));
    assert!(req.had_authorization);
}

#[tokio::test]
async fn sendmail_without_a_valid_token_is_401() {
    let s = Stand::with_lifetime(Duration::from_secs(1)).await;
    let body = B64.encode(mime("someone@example.net"));
    let r = s
        .http
        .post(s.url("/sendMail"))
        .header("content-type", "text/plain")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert!(r.headers().contains_key("www-authenticate"));
    assert_eq!(error(r).await, (401, "InvalidAuthenticationToken".into()));
    let r = s
        .http
        .post(s.url("/sendMail"))
        .bearer_auth("not-a-token")
        .header("content-type", "text/plain")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(error(r).await, (401, "InvalidAuthenticationToken".into()));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = s.post_mime("/sendMail", body).await;
    assert_eq!(
        error(r).await,
        (401, "InvalidAuthenticationToken".into()),
        "an expired token"
    );
    assert!(s.graph.sent().is_empty());
}

#[tokio::test]
async fn sendmail_over_4_mb_is_413() {
    let s = Stand::new().await;
    let r = s
        .post_mime("/sendMail", vec![b'A'; REQUEST_LIMIT + 4])
        .await;
    assert_eq!(error(r).await, (413, "RequestEntityTooLarge".into()));
    let r = s
        .post_mime("/messages", vec![b'A'; REQUEST_LIMIT + 4])
        .await;
    assert_eq!(error(r).await.0, 413);
    assert!(s.graph.sent().is_empty());
    assert_eq!(s.graph.drafts(), 0);
}

#[tokio::test]
async fn sendmail_refuses_bad_base64_no_recipients_and_unknown_mailboxes() {
    let s = Stand::new().await;
    let r = s.post_mime("/sendMail", "this is not base64!").await;
    assert_eq!(
        error(r).await,
        (400, "ErrorMimeContentInvalidBase64String".into())
    );
    let no_rcpt = b"From: relay@example.test\r\nSubject: x\r\n\r\nbody\r\n";
    let r = s.post_mime("/sendMail", B64.encode(no_rcpt)).await;
    assert_eq!(error(r).await, (400, "ErrorInvalidRecipients".into()));
    let r = s
        .http
        .post(format!(
            "{}/v1.0/users/nobody@example.test/sendMail",
            s.graph.url()
        ))
        .bearer_auth(&s.token)
        .header("content-type", "text/plain")
        .body(B64.encode(mime("someone@example.net")))
        .send()
        .await
        .unwrap();
    assert_eq!(error(r).await, (404, "ErrorInvalidUser".into()));
    assert!(s.graph.sent().is_empty());
}

#[tokio::test]
async fn upload_session_refuses_misaligned_chunks_and_keeps_the_attachment_intact() {
    let s = Stand::new().await;
    let message = mime("someone@example.net");
    let draft: Value = s
        .post_mime("/messages", B64.encode(&message))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(draft["isDraft"], true);
    let id = draft["id"].as_str().unwrap();
    assert_eq!(s.graph.drafts(), 1);

    let small = json_item("small.pdf", 1000);
    let r = s
        .post_json(
            &format!("/messages/{id}/attachments/createUploadSession"),
            small,
        )
        .await;
    assert_eq!(
        error(r).await,
        (
            400,
            "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize".into()
        )
    );

    let file: Vec<u8> = (0..5_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let item = json_item("report.pdf", file.len());
    let r = s
        .post_json(
            &format!("/messages/{id}/attachments/createUploadSession"),
            item,
        )
        .await;
    assert_eq!(r.status(), 201);
    let session: Value = r.json().await.unwrap();
    assert_eq!(session["nextExpectedRanges"], serde_json::json!(["0-"]));
    let upload = session["uploadUrl"].as_str().unwrap().to_string();

    let put = |range: std::ops::Range<usize>, auth: bool| {
        let mut req = s
            .http
            .put(&upload)
            .header("content-type", "application/octet-stream")
            .header(
                "content-range",
                format!("bytes {}-{}/{}", range.start, range.end - 1, file.len()),
            )
            .body(file[range].to_vec());
        if auth {
            req = req.bearer_auth(&s.token);
        }
        req.send()
    };
    let chunk = 12 * CHUNK_ALIGN;
    let r = put(0..chunk, true).await.unwrap();
    assert_eq!(
        error(r).await.0,
        401,
        "the upload URL takes no Authorization"
    );
    let r = put(0..1_000_000, false).await.unwrap();
    assert_eq!(error(r).await, (400, "invalidRange".into()), "misaligned");
    let r = put(CHUNK_ALIGN..2 * CHUNK_ALIGN, false).await.unwrap();
    assert_eq!(error(r).await, (416, "invalidRange".into()), "out of order");

    let r = put(0..chunk, false).await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["nextExpectedRanges"],
        serde_json::json!([chunk.to_string()])
    );
    let r = put(chunk..file.len(), false).await.unwrap();
    assert_eq!(r.status(), 201);
    assert!(r.headers().contains_key("location"));
    assert_eq!(s.graph.upload_sessions(), 0);

    let r = s.post_mime(&format!("/messages/{id}/send"), "").await;
    assert_eq!(r.status(), 202);
    let sent = s.graph.wait_sent(1, Duration::from_secs(5)).await;
    assert!(sent[0].via_draft);
    assert_eq!(sent[0].mime, message);
    let (name, ctype, bytes) = &sent[0].attachments[0];
    assert_eq!(
        (name.as_str(), ctype.as_str()),
        ("report.pdf", "application/pdf")
    );
    assert!(bytes == &file, "the attachment arrives byte-identical");
    assert_eq!(s.graph.drafts(), 0);
    let r = s
        .http
        .get(s.url(&format!("/messages/{id}")))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(error(r).await, (404, "ErrorItemNotFound".into()));
}

fn json_item(name: &str, size: usize) -> Value {
    serde_json::json!({ "AttachmentItem": {
        "attachmentType": "file", "name": name, "size": size, "contentType": "application/pdf"
    }})
}

#[tokio::test]
async fn fail_next_gives_429_with_retry_after_then_recovers() {
    let s = Stand::new().await;
    s.graph.fail_next(429, "ApplicationThrottled", Some(7), 2);
    let body = B64.encode(mime("someone@example.net"));
    for _ in 0..2 {
        let r = s.post_mime("/sendMail", body.clone()).await;
        assert_eq!(r.headers()["retry-after"], "7");
        assert_eq!(error(r).await, (429, "ApplicationThrottled".into()));
    }
    let r = s
        .http
        .get(s.url(""))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "GET users is not affected");
    assert_eq!(s.post_mime("/sendMail", body).await.status(), 202);
    assert_eq!(s.graph.sent().len(), 1);
}

#[tokio::test]
async fn denials_and_step_failures_answer_as_graph_does() {
    let s = Stand::new().await;
    let body = B64.encode(mime("someone@example.net"));
    s.graph.deny_send_as(MAILBOX);
    let r = s.post_mime("/sendMail", body.clone()).await;
    assert_eq!(error(r).await, (403, "ErrorSendAsDenied".into()));

    let other = Stand::new().await;
    other.graph.deny_client(&other.client_id);
    let r = other
        .http
        .get(other.url(""))
        .bearer_auth(&other.token)
        .send()
        .await
        .unwrap();
    assert_eq!(error(r).await, (403, "ErrorAccessDenied".into()));

    let third = Stand::new().await;
    third.graph.fail_step(Step::CreateDraft);
    let r = third.post_mime("/messages", body.clone()).await;
    assert_eq!(error(r).await, (503, "ServiceUnavailable".into()));
    third.graph.fail_step(Step::Send);
    let draft: Value = third
        .post_mime("/messages", body)
        .await
        .json()
        .await
        .unwrap();
    let send = format!("/messages/{}/send", draft["id"].as_str().unwrap());
    let r = third.post_mime(&send, "").await;
    assert_eq!(error(r).await, (503, "ServiceUnavailable".into()));
    assert_eq!(third.graph.drafts(), 1, "the draft survives a failed send");
    assert_eq!(third.post_mime(&send, "").await.status(), 202);
    assert_eq!(third.graph.sent().len(), 1);
}
