//! The `kind = "file"` upstream: writes each message into a directory as `<id>.eml` (a repeated
//! delivery as `<id>-2.eml`...), with
//! `Return-Path:` and one `X-Smarthost-Rcpt-To:` line per recipient on top so the envelope is
//! visible, plus `<id>.json` with the full envelope. Written to a temp name, fsynced, renamed:
//! a file never appears half written. Sends nothing anywhere.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::envelope::Envelope;

pub fn write(
    dir: &Path,
    id: &str,
    env: &Envelope,
    indices: &[usize],
    body: &[u8],
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let mut head = format!("Return-Path: <{}>\r\n", env.mail_from);
    for &i in indices {
        head.push_str(&format!(
            "X-Smarthost-Rcpt-To: <{}>\r\n",
            env.recipients[i].address
        ));
    }
    // A second delivery of the same message (after a crash between writing it and recording
    // that) gets its own file instead of silently replacing the first: duplicates stay visible.
    let name = (1..)
        .map(|n| {
            if n == 1 {
                id.to_string()
            } else {
                format!("{id}-{n}")
            }
        })
        .find(|n| !dir.join(format!("{n}.eml")).exists())
        .expect("some name is free");
    let eml = dir.join(format!("{name}.eml"));
    let mut content = Vec::with_capacity(head.len() + body.len());
    content.extend_from_slice(head.as_bytes());
    content.extend_from_slice(body);
    let mut sub = env.clone();
    sub.recipients = indices.iter().map(|&i| env.recipients[i].clone()).collect();
    let json = serde_json::to_vec_pretty(&sub).map_err(std::io::Error::other)?;
    durable_write(&dir.join(format!("{name}.json")), &json)?;
    durable_write(&eml, &content)?;
    Ok(eml)
}

fn durable_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    crate::fsutil::rename_durable(&tmp, path)
}
