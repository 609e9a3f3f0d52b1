//! The transport seam: the one interface through which a message leaves smarthost. A transport
//! opens a session (an SMTP connection; nothing for a directory) and sends **one transaction**
//! (this message to these recipients) over it, returning a result per recipient. Adding a
//! transport is one file under `transport/` and one variant here.
//!
//! Never throttles, splits, retries, persists or decides an outcome: the attempt
//! (`delivery::transactions`) owns that loop. Names no other part of delivery.

mod file;
mod graph;
mod smtp;

use std::sync::Arc;

use crate::config::{Config, Transport as Kind, Upstream};
use crate::dkim::Signer;
use crate::spool::StoredMessage;
use crate::upstream::RcptResult;
use crate::upstream::connect::Detected;
use crate::upstream::error::UpstreamError;

/// How one upstream takes mail.
pub enum Transport {
    Smtp(smtp::Smtp),
    Graph(graph::Graph),
    File(file::Directory),
}

/// An open session of a transport, kept in the pool between messages.
pub enum Session {
    Smtp(crate::upstream::client::Conn),
    /// A transport whose requests stand alone (file, Graph over pooled HTTPS).
    Stateless,
}

impl Transport {
    pub fn new(
        up: &Upstream,
        config: &Config,
        signer: Option<Arc<Signer>>,
    ) -> Result<Transport, UpstreamError> {
        Ok(match &up.transport {
            Kind::Smtp(s) => Transport::Smtp(smtp::Smtp::new(&up.name, s, config, signer)?),
            Kind::Graph(g) => Transport::Graph(graph::Graph::new(&up.name, g, config, signer)?),
            Kind::File { dir } => Transport::File(file::Directory::new(dir.clone())),
        })
    }

    pub async fn open(&self) -> Result<Session, UpstreamError> {
        match self {
            Transport::Smtp(t) => t.open().await.map(Session::Smtp),
            Transport::Graph(_) | Transport::File(_) => Ok(Session::Stateless),
        }
    }

    /// One transaction: `msg` to the recipients at `rcpts`. `Err` means the session is no
    /// longer usable and no recipient of this transaction has an answer.
    pub async fn send(
        &self,
        session: &mut Session,
        msg: &StoredMessage,
        rcpts: &[usize],
    ) -> Result<Vec<(usize, RcptResult)>, UpstreamError> {
        match (self, session) {
            (Transport::Smtp(t), Session::Smtp(conn)) => t.send(conn, msg, rcpts).await,
            (Transport::Graph(t), _) => t.send(msg, rcpts).await,
            (Transport::File(t), _) => t.send(msg, rcpts).await,
            (Transport::Smtp(_), Session::Stateless) => Err(UpstreamError::Local(
                "an SMTP upstream got no connection".into(),
            )),
        }
    }

    /// The most recipients one transaction may carry (`max_recipients_per_message`).
    pub fn per_transaction(&self) -> Option<usize> {
        match self {
            Transport::Smtp(t) => t.per_transaction(),
            Transport::Graph(t) => t.per_transaction(),
            Transport::File(_) => None,
        }
    }

    /// Whether provider limits apply (the file target has none).
    pub fn is_limited(&self) -> bool {
        !matches!(self, Transport::File(_))
    }

    /// The OAuth2 tokens the transport logs in with, if any.
    pub fn tokens(&self) -> Option<&crate::oauth2::TokenSource> {
        match self {
            Transport::Smtp(t) => t.tokens(),
            Transport::Graph(t) => Some(t.client().tokens()),
            Transport::File(_) => None,
        }
    }

    /// The Graph client of a Graph upstream (send-test).
    pub fn graph(&self) -> Option<&crate::graph::GraphClient> {
        match self {
            Transport::Graph(t) => Some(t.client()),
            _ => None,
        }
    }

    /// What AUTO detection found (SMTP only).
    pub fn detected(&self) -> Option<Detected> {
        match self {
            Transport::Smtp(t) => t.detected(),
            Transport::Graph(_) | Transport::File(_) => None,
        }
    }
}

impl Session {
    /// The upstream took DSN requests on, so its own reports will follow.
    pub fn passes_dsn_on(&self) -> bool {
        match self {
            Session::Smtp(conn) => conn.caps.dsn,
            // Graph has no DSN: NOTIFY=SUCCESS gets the relay's own "relayed" notice.
            Session::Stateless => false,
        }
    }

    /// Ends the session politely (QUIT).
    pub async fn close(self) {
        if let Session::Smtp(conn) = self {
            conn.quit().await;
        }
    }
}
