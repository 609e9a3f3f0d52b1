//! The Graph transport: one transaction becomes one Graph send of the final MIME, with its
//! To/Cc/Bcc made to say exactly this transaction's recipients (`crate::graph::recipients`) and
//! the DKIM signature made again when that changed signed headers. Graph takes a message for
//! all its recipients or for none, so every recipient of the transaction gets the same result.

use std::sync::Arc;

use crate::config::{Config, GraphUpstream};
use crate::dkim::Signer;
use crate::graph::error::Meaning;
use crate::graph::{GraphClient, recipients};
use crate::spool::StoredMessage;
use crate::upstream::RcptResult;
use crate::upstream::error::UpstreamError;

pub struct Graph {
    client: GraphClient,
    signer: Option<Arc<Signer>>,
    per_transaction: Option<usize>,
}

impl Graph {
    pub fn new(
        name: &str,
        cfg: &GraphUpstream,
        config: &Config,
        signer: Option<Arc<Signer>>,
    ) -> Result<Graph, UpstreamError> {
        let client = GraphClient::new(name, cfg, &config.spool.dir)?;
        Ok(Graph {
            client,
            signer,
            per_transaction: cfg.limits.max_recipients_per_message,
        })
    }

    pub async fn send(
        &self,
        msg: &StoredMessage,
        rcpts: &[usize],
    ) -> Result<Vec<(usize, RcptResult)>, UpstreamError> {
        let to: Vec<String> = rcpts
            .iter()
            .map(|&i| msg.envelope.recipients[i].address.clone())
            .collect();
        // Aligning the recipients may mean signing again: CPU work, on the pool, so this
        // delivery does not hold an async worker meanwhile. The stored body is shared, not copied.
        let (body, signer) = (msg.body.clone(), self.signer.clone());
        let mime = crate::cpu::shared()
            .run(move || final_mime(&body, signer.as_deref(), &to))
            .await
            .map_err(|e| UpstreamError::Local(format!("preparing the message: {e}")))?;
        let mailbox = self.client.mailbox(&msg.envelope.mail_from);
        let key = format!("{}-{}", msg.id, rcpts.first().copied().unwrap_or(0));
        let each = |r: RcptResult| rcpts.iter().map(|&i| (i, r.clone())).collect();
        match self.client.send(mailbox, &mime, &key).await {
            Ok(()) => Ok(each(RcptResult::Delivered(
                "202 Accepted by Microsoft Graph".into(),
            ))),
            Err(e) if e.meaning() == Meaning::Malformed => Ok(each(RcptResult::Failed(e.reply()))),
            Err(e) => Err(UpstreamError::Graph(e)),
        }
    }

    pub fn per_transaction(&self) -> Option<usize> {
        self.per_transaction
    }

    pub fn client(&self) -> &GraphClient {
        &self.client
    }
}

/// The message as Graph must get it; signed again when aligning changed it.
fn final_mime(body: &[u8], signer: Option<&Signer>, to: &[String]) -> Vec<u8> {
    let to: Vec<&str> = to.iter().map(String::as_str).collect();
    let aligned = recipients::align(body, &to);
    let changed = matches!(aligned, std::borrow::Cow::Owned(_));
    match (signer, changed) {
        (Some(signer), true) => {
            let unsigned = signer.strip_own(&aligned);
            signer.sign(&unsigned).unwrap_or_else(|e| {
                tracing::warn!("DKIM signing after aligning the recipients failed: {e}");
                unsigned.to_vec()
            })
        }
        _ => aligned.into_owned(),
    }
}
