//! What `smarthost send-test` shows of a connection: each step (DNS, TCP, TLS, every reply, the
//! AUTH mechanism chosen) with the time it happened. The relay's own connections carry no
//! tracer. Credentials are never part of a step.

use std::net::SocketAddr;
use std::time::Instant;

use tokio::sync::mpsc;

use super::reply::UpReply;

#[derive(Debug, Clone)]
pub enum Step {
    Resolved {
        host: String,
        addrs: Vec<SocketAddr>,
    },
    Connected {
        addr: SocketAddr,
    },
    Tls {
        version: String,
        cipher: String,
        certificates: usize,
    },
    Reply {
        stage: &'static str,
        reply: UpReply,
    },
    Auth {
        mechanism: &'static str,
        offered: Vec<String>,
    },
    /// The server's end-entity certificate (also when it was refused).
    ServerCertificate(crate::config::cert::CertFacts),
    /// Whether the server asked for a client certificate, and the one configured.
    ClientCertificate {
        asked: bool,
        sent: Option<crate::config::cert::CertFacts>,
    },
    Note(String),
}

/// Sends steps, stamped, to whoever prints them.
#[derive(Debug, Clone)]
pub struct Tracer(mpsc::UnboundedSender<(Instant, Step)>);

impl Tracer {
    pub fn new() -> (Tracer, mpsc::UnboundedReceiver<(Instant, Step)>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Tracer(tx), rx)
    }

    pub fn emit(&self, step: Step) {
        let _ = self.0.send((Instant::now(), step));
    }
}
