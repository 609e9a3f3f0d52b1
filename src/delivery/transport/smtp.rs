//! The SMTP transport: a connection from `crate::upstream` (CONN and AUTH modes, AUTO
//! detection) and one MAIL/RCPT/DATA transaction over it. Owns the endpoint, and the 7-bit
//! form of a message for a server that cannot take 8-bit (RFC 6152), signed again so that the
//! DKIM signature covers what is sent.

use std::borrow::Cow;
use std::sync::Arc;

use crate::config::{Config, SmtpUpstream};
use crate::dkim::Signer;
use crate::spool::StoredMessage;
use crate::upstream::client::Conn;
use crate::upstream::connect::{Detected, Endpoint};
use crate::upstream::error::UpstreamError;
use crate::upstream::{self, RcptResult, downgrade};

pub struct Smtp {
    endpoint: Endpoint,
    signer: Option<Arc<Signer>>,
}

impl Smtp {
    pub fn new(
        name: &str,
        cfg: &SmtpUpstream,
        config: &Config,
        signer: Option<Arc<Signer>>,
    ) -> Result<Smtp, UpstreamError> {
        let endpoint = Endpoint::new(
            name,
            cfg.clone(),
            &config.server.hostname,
            &config.spool.dir,
        )?;
        Ok(Smtp { endpoint, signer })
    }

    pub async fn open(&self) -> Result<Conn, UpstreamError> {
        self.endpoint.open().await
    }

    pub async fn send(
        &self,
        conn: &mut Conn,
        msg: &StoredMessage,
        rcpts: &[usize],
    ) -> Result<Vec<(usize, RcptResult)>, UpstreamError> {
        let notify = self.endpoint.cfg.default_notify;
        if !downgrade::needed(&msg.body, &conn.caps) {
            return upstream::send(conn, &msg.envelope, rcpts, &msg.body, notify).await;
        }
        tracing::info!(queue_id = %msg.id, upstream = %self.endpoint.name,
            "the upstream offers no 8BITMIME/SMTPUTF8: message converted to 7 bits");
        // The conversion (and the signature made again) is CPU work: on the pool, so this
        // delivery does not hold an async worker meanwhile. The stored body is shared, not copied.
        let (body, signer, id) = (msg.body.clone(), self.signer.clone(), msg.id.clone());
        let seven = crate::cpu::shared()
            .run(move || seven_bit(&body, signer.as_deref(), &id))
            .await
            .map_err(|e| UpstreamError::Local(format!("7-bit conversion: {e}")))?;
        upstream::send(conn, &msg.envelope, rcpts, &seven, notify).await
    }

    pub fn per_transaction(&self) -> Option<usize> {
        self.endpoint.cfg.max_recipients_per_message
    }

    pub fn tokens(&self) -> Option<&crate::oauth2::TokenSource> {
        self.endpoint.tokens()
    }

    pub fn detected(&self) -> Option<Detected> {
        self.endpoint.detected()
    }
}

/// The message in 7 bits for a server without 8BITMIME/SMTPUTF8, signed again when our
/// signature was on it: that signature covers the 8-bit form.
fn seven_bit(body: &[u8], signer: Option<&Signer>, id: &str) -> Vec<u8> {
    let unsigned = match signer {
        Some(signer) => signer.strip_own(body),
        None => Cow::Borrowed(body),
    };
    let was_signed = matches!(unsigned, Cow::Owned(_));
    let converted = downgrade::to_seven_bit(&unsigned);
    if !converted.is_ascii() {
        // 8-bit octets outside every MIME part (a preamble, say): sent as they are.
        tracing::warn!(queue_id = %id, "8-bit octets left outside the MIME parts after the \
            7-bit conversion");
    }
    let Some(signer) = signer.filter(|_| was_signed) else {
        return converted;
    };
    signer.sign(&converted).unwrap_or_else(|e| {
        tracing::warn!(queue_id = %id, "DKIM signing after the 7-bit conversion failed: {e}");
        converted
    })
}
