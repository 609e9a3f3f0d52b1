//! The admin HTTP listener under abuse (issue 18, finding 12): idle connections beyond its cap
//! are closed at once, so they cannot use up the descriptors SMTP clients need.

mod common;

use std::time::Duration;

use common::{TestRelay, read_reply};
use tokio::io::{AsyncReadExt, BufReader};
use tokio::net::TcpStream;

#[tokio::test]
async fn idle_admin_connections_beyond_the_cap_are_closed_and_smtp_still_answers() {
    let relay = TestRelay::start(
        "[admin]\nlisten = \"127.0.0.1:0\"\n\n[[upstream]]\nname = \"o\"\nkind = \"file\"\ndir = \"o\"\n",
        "",
    )
    .await;
    let admin = relay.relay.admin_addr.expect("admin listener");
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(TcpStream::connect(admin).await.unwrap());
    }
    // Those over the cap are closed by the relay: a read sees the end at once.
    let mut closed = 0;
    for s in idle.iter_mut() {
        let mut b = [0u8; 1];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(200), s.read(&mut b)).await {
            closed += 1;
        }
    }
    assert!(
        closed >= 250,
        "only {closed} of 300 idle connections closed"
    );
    let mut smtp = BufReader::new(TcpStream::connect(relay.addr()).await.unwrap());
    assert!(read_reply(&mut smtp).await.starts_with("220"));
}
