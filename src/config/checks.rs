//! Rules that span sections or upstreams, and locating a key's line in the file for errors.

use super::upstream::Upstream;

/// Rules across upstreams: unique names, at least one, exactly one default when there are several.
pub(super) fn check_upstream_set(
    ups: &[Upstream],
    declared: usize,
    text: &str,
    err: &mut dyn FnMut(usize, String, String),
) {
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
