//! The SMTP transport: a connection from `crate::upstream` (CONN and AUTH modes, AUTO
//! detection) and one MAIL/RCPT/DATA transaction over it. Owns nothing but the endpoint.

use crate::config::{Config, SmtpUpstream};
use crate::spool::StoredMessage;
use crate::upstream::client::Conn;
use crate::upstream::connect::{Detected, Endpoint};
use crate::upstream::error::UpstreamError;
use crate::upstream::{self, RcptResult};

pub struct Smtp {
    endpoint: Endpoint,
}

impl Smtp {
    pub fn new(name: &str, cfg: &SmtpUpstream, config: &Config) -> Result<Smtp, UpstreamError> {
        let endpoint = Endpoint::new(
            name,
            cfg.clone(),
            &config.server.hostname,
            &config.spool.dir,
        )?;
        Ok(Smtp { endpoint })
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
        upstream::send(conn, &msg.envelope, rcpts, &msg.body, notify).await
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
