//! Which upstream carries a message. Today: the default upstream (the only one, or the one
//! marked `default = true`). Routing by sender and client binding plug in here. Pure: never
//! touches the network or the spool.

use crate::config::Upstream;
use crate::envelope::Envelope;

pub fn route<'a>(_envelope: &Envelope, upstreams: &'a [Upstream]) -> Option<&'a Upstream> {
    Upstream::pick_default(upstreams)
}
