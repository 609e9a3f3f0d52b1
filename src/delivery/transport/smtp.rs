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
        let body = self.for_server(&msg.body, conn, &msg.id);
        upstream::send(conn, &msg.envelope, rcpts, &body, notify).await
    }

    /// The message as this server can take it: as stored, or in 7 bits and signed again.
    fn for_server<'a>(&self, body: &'a [u8], conn: &Conn, id: &str) -> Cow<'a, [u8]> {
        if !downgrade::needed(body, &conn.caps) {
            return Cow::Borrowed(body);
        }
        tracing::info!(queue_id = %id, upstream = %self.endpoint.name,
            "the upstream offers no 8BITMIME/SMTPUTF8: message converted to 7 bits");
        // Our signature covers the 8-bit form: taken off, and made again over what is sent.
        let unsigned = match &self.signer {
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
        let Some(signer) = self.signer.as_ref().filter(|_| was_signed) else {
            return Cow::Owned(converted);
        };
        match signer.sign(&converted) {
            Ok(signed) => Cow::Owned(signed),
            Err(e) => {
                tracing::warn!(queue_id = %id, "DKIM signing after the 7-bit conversion failed: {e}");
                Cow::Owned(converted)
            }
        }
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
