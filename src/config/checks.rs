//! Rules that span sections or upstreams, and locating a key's line in the file for errors.

use super::clients::{ClientAccount, RawClient};
use super::policy::PolicyConfig;
use super::profiles::{Profile, RawProfile};
use super::upstream::Upstream;

/// Where each problem goes: `(line, key, message)`.
type Report<'a> = &'a mut dyn FnMut(usize, String, String);

/// Rules across upstreams: unique names, at least one, exactly one default when there are several.
pub(super) fn check_upstream_set(ups: &[Upstream], declared: usize, text: &str, err: Report) {
    let line = || find_key_line(text, "[[upstream]]");
    if declared == 0 {
        err(
            0,
            "upstream".into(),
            "no [[upstream]] is configured: mail would have nowhere to go".into(),
        );
        return;
    }
    for (i, u) in ups.iter().enumerate() {
        if ups[..i].iter().any(|o| o.name == u.name) {
            err(
                line(),
                "upstream.name".into(),
                format!("two upstreams are named \"{}\"", u.name),
            );
        }
    }
    for u in ups {
        if let Some(f) = &u.fallback
            && (f == &u.name || !ups.iter().any(|o| &o.name == f))
        {
            err(
                find_key_line(text, "fallback"),
                "upstream.fallback".into(),
                format!(
                    "upstream \"{}\": fallback \"{f}\" is not another configured upstream",
                    u.name
                ),
            );
        }
    }
    let defaults: Vec<&str> = ups
        .iter()
        .filter(|u| u.default)
        .map(|u| u.name.as_str())
        .collect();
    if ups.len() > 1 && defaults.len() != 1 {
        let msg = if defaults.is_empty() {
            "several upstreams are configured: mark exactly one with default = true".to_string()
        } else {
            format!(
                "only one upstream may have default = true (found: {})",
                defaults.join(", ")
            )
        };
        err(line(), "upstream.default".into(), msg);
    }
}

pub(super) fn is_secret_key(key: &str) -> bool {
    let last = key.rsplit('.').next().unwrap_or(key);
    last == "password" || last.contains("secret") || last.contains("token")
}

/// First line starting with `key` (as `key =` or a header), or 0.
pub(super) fn find_key_line(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let t = l.trim_start();
            t.starts_with(key)
                && (key.starts_with('[') || t[key.len()..].trim_start().starts_with('='))
        })
        .map(|i| i + 1)
        .unwrap_or(0)
}

/// The `[[client]]` accounts that are valid.
pub(super) fn clients(raw: Vec<RawClient>, text: &str, err: Report) -> Vec<ClientAccount> {
    let mut clients = Vec::new();
    for c in raw {
        match c.validate() {
            Ok(c) => clients.push(c),
            Err((key, message)) => err(find_key_line(text, key), format!("client.{key}"), message),
        }
    }
    clients
}

/// The `[[profile]]`s that are valid and name only known upstreams and clients.
pub(super) fn profiles(
    raw: Vec<RawProfile>,
    upstreams: &[Upstream],
    clients: &[ClientAccount],
    any_login: bool,
    text: &str,
    err: Report,
) -> Vec<Profile> {
    let mut profiles = Vec::new();
    for (i, p) in raw.into_iter().enumerate() {
        let p = match p.validate(i) {
            Ok(p) => p,
            Err((key, message)) => {
                err(find_key_line(text, key), format!("profile.{key}"), message);
                continue;
            }
        };
        let unknown_upstream = p
            .upstream
            .as_ref()
            .filter(|n| !upstreams.iter().any(|u| &u.name == *n));
        let unknown_client = p
            .matches
            .client
            .as_ref()
            // With any login accepted, the name is whatever the program logs in with.
            .filter(|n| !any_login && !clients.iter().any(|c| &c.name == *n));
        if let Some(n) = unknown_upstream {
            err(
                find_key_line(text, "upstream"),
                "profile.upstream".into(),
                format!("{}: no upstream named {n}", p.name),
            );
        } else if let Some(n) = unknown_client {
            err(
                find_key_line(text, "match"),
                "profile.match".into(),
                format!("{}: no [[client]] named {n}", p.name),
            );
        } else {
            profiles.push(p);
        }
    }
    profiles
}

/// The global policy, and each profile's and upstream's override of it.
pub(super) fn policies(
    policy: &PolicyConfig,
    profiles: &[Profile],
    upstreams: &[Upstream],
    text: &str,
    err: Report,
) {
    let mut problems = policy.check();
    for p in profiles {
        problems.extend(policy.overridden_by(&p.policy).check());
    }
    for u in upstreams {
        problems.extend(policy.overridden_by(&u.policy).check());
    }
    problems.dedup();
    for (key, message) in problems {
        let (section, last) = key.split_once('.').unwrap_or(("", key));
        let line = match find_key_line(text, last) {
            0 => find_key_line(text, &format!("[{section}]")),
            n => n,
        };
        err(line, key.to_string(), message);
    }
}

/// A section's own check: its value, or its problem reported as `section.key` on its line.
pub(super) fn section<T>(
    checked: Result<T, (&'static str, String)>,
    section: &str,
    text: &str,
    err: Report,
) -> Option<T> {
    match checked {
        Ok(v) => Some(v),
        Err((key, message)) => {
            err(
                find_key_line(text, key),
                format!("{section}.{key}"),
                message,
            );
            None
        }
    }
}
