//! The end of DATA: trace header, policy, DKIM signature and SPF pre-flight, then the spool.
//! The CPU-heavy steps (the company signature's MIME re-encoding, the DKIM signature) run on
//! the CPU pool, so a session waiting for them does not hold an async worker: other sessions,
//! and the greeting of a new one, go on meanwhile. The body is moved there and back, not copied.

use crate::dkim::{DkimError, Signers};
use crate::envelope::Envelope;
use crate::maillog;
use crate::policy::{Applied, Policy};
use crate::spool::NewMessage;

use super::machine::{Machine, Transaction};
use super::reply::{self, Reply};
use super::{Session, SessionContext, client_name, received, rejected};

/// What became of the DKIM signature.
enum Dkim {
    /// No signer for this route.
    Unsigned,
    /// The `DKIM-Signature:` field to prepend.
    Signed(String),
    /// The From: is not in the signer's domain.
    NotCovered(String),
    Failed(DkimError),
}

/// The message after policy, and its signature.
struct Prepared {
    applied: Applied,
    dkim: Dkim,
}

/// Policy, then the DKIM signature of its result: pure CPU work, run inline or on the pool.
fn prepare(
    policy: &Policy,
    signers: &Signers,
    profile: Option<usize>,
    envelope: Envelope,
    body: Vec<u8>,
) -> Prepared {
    let applied = policy.apply_as(profile, envelope, body);
    let dkim = if applied.envelope.recipients.is_empty() {
        Dkim::Unsigned
    } else {
        match signers.for_upstream(applied.envelope.upstream.as_deref()) {
            None => Dkim::Unsigned,
            Some(s) if !s.covers(&applied.body) => Dkim::NotCovered(s.domain.clone()),
            Some(s) => match s.signature(&applied.body) {
                Ok(field) => Dkim::Signed(field),
                Err(e) => Dkim::Failed(e),
            },
        }
    };
    Prepared { applied, dkim }
}

/// [`prepare`] on the CPU pool when it has heavy work to do (a DKIM signer, a signature to
/// append); inline otherwise, where it takes microseconds and a trip to the pool would cost
/// more than it saves.
async fn prepare_off_worker(
    ctx: &SessionContext,
    profile: Option<usize>,
    envelope: Envelope,
    body: Vec<u8>,
) -> Result<Prepared, Reply> {
    let heavy = !ctx.dkim.is_empty() || ctx.policy.appends_signature(profile, &envelope.mail_from);
    if !heavy {
        return Ok(prepare(&ctx.policy, &ctx.dkim, profile, envelope, body));
    }
    let (policy, signers) = (ctx.policy.clone(), ctx.dkim.clone());
    ctx.cpu
        .run(move || prepare(&policy, &signers, profile, envelope, body))
        .await
        .map_err(|e| {
            tracing::error!("message not queued: policy and signing failed: {e}");
            reply::local_error()
        })
}

/// The SPF pre-flight of the final message: its `X-Smarthost-SPF:` field (or none), or the
/// refusal in reject mode.
async fn spf_field(
    ctx: &SessionContext,
    client: &str,
    id: &str,
    envelope: &Envelope,
) -> Result<String, Reply> {
    use crate::spf::Decision;
    match ctx
        .spf
        .decide(&envelope.mail_from, envelope.upstream.as_deref())
        .await
    {
        Decision::Refuse(why) => {
            let reply = why.reply();
            rejected(ctx, client, id, &reply);
            Err(reply)
        }
        Decision::Relay { header: Some(v) } => {
            if v.result != crate::config::SpfResult::Pass {
                crate::maillog!(maillog::SPF, %client, queue_id = %id, result = %v.result,
                    domain = %v.domain, upstream = %v.upstream, reason = %v.sentence());
            }
            Ok(v.header())
        }
        Decision::Relay { header: None } => Ok(String::new()),
    }
}

/// The fields to prepend: the SPF result, then the DKIM signature.
fn dkim_field(dkim: Dkim, id: &str, fields: &mut String) {
    match dkim {
        Dkim::Unsigned => {}
        Dkim::Signed(sig) => fields.push_str(&sig),
        Dkim::NotCovered(domain) => tracing::debug!(queue_id = %id, %domain,
            "not DKIM-signed: its From: is not in the signing domain"),
        Dkim::Failed(e) => tracing::warn!(queue_id = %id, "message relayed unsigned: {e}"),
    }
}

/// Prepends the trace header and puts the message in the spool; `Ok` carries the queue id.
pub(super) async fn store(
    tx: Transaction,
    session: &Session,
    m: &Machine,
    ctx: &SessionContext,
) -> Result<String, Reply> {
    let peer = session.peer;
    let id = crate::spool::new_queue_id();
    let client = client_name(session, m);
    let mut tx = tx;
    tx.envelope.client = Some(client.clone());
    crate::maillog!(maillog::RECEIVED, %client, queue_id = %id, from = %tx.envelope.mail_from,
        rcpts = tx.envelope.recipients.len(), size = tx.body.len());
    ctx.metrics.count(maillog::RECEIVED, "", 1);
    let single =
        (tx.envelope.recipients.len() == 1).then(|| tx.envelope.recipients[0].address.as_str());
    let header = received::received(&received::Trace {
        helo: m.helo_name(),
        peer,
        hostname: &ctx.limits.hostname,
        esmtp: m.is_esmtp(),
        tls: m.is_tls(),
        authenticated: m.user().is_some(),
        utf8: tx.envelope.smtputf8,
        queue_id: &id,
        for_rcpt: single,
        date: chrono::Local::now().fixed_offset(),
    });
    // The trace field goes in front of the body in place: a large message is never copied.
    let mut body = std::mem::take(&mut tx.body);
    body.splice(..0, header.bytes());
    let Prepared { applied, dkim } =
        prepare_off_worker(ctx, session.profile(), tx.envelope, body).await?;
    for rcpt in &applied.dropped {
        crate::maillog!(maillog::DROPPED, %client, queue_id = %id, %rcpt, reason = "blacklist");
    }
    if applied.envelope.recipients.is_empty() {
        // Every recipient was dropped on purpose: the client is told it went fine, as asked.
        return Ok(id);
    }
    if applied.test_mode {
        let to = &applied.envelope.recipients[0].address;
        crate::maillog!(maillog::REDIRECTED, %client, queue_id = %id, %to, reason = "test mode");
    }
    let (envelope, mut body) = (applied.envelope, applied.body);
    let mut fields = spf_field(ctx, &client, &id, &envelope).await?;
    dkim_field(dkim, &id, &mut fields);
    body.splice(..0, fields.bytes());
    match ctx
        .spool
        .put(NewMessage {
            id: id.clone(),
            envelope,
            body,
        })
        .await
    {
        Ok(()) => {
            ctx.metrics.count(maillog::QUEUED, "", 1);
            Ok(id)
        }
        Err(e) => {
            tracing::error!(%peer, "could not queue a message: {e}");
            Err(reply::storage_failed())
        }
    }
}
