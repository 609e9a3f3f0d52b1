//! `smarthost presets` and `smarthost upstreams`: the built-in provider presets, and the
//! configured servers as the ERP's server list shows them (name, host, port, auth, security,
//! sender, user, routing filter, default, limits), as a table, CSV or JSON. Text only.

use std::fmt::Write;

use serde::Serialize;

use crate::config::presets::{PRESETS, Preset};
use crate::config::{Config, ProviderLimits, Transport};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// One row of the server list.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub name: String,
    pub host: String,
    pub port: String,
    pub auth: String,
    pub security: String,
    pub sender: String,
    pub user: String,
    pub routing: String,
    pub default: bool,
    pub limits: String,
}

pub fn rows(config: &Config) -> Vec<Row> {
    config
        .upstreams
        .iter()
        .map(|u| {
            let policy = config.policy.overridden_by(&u.policy);
            let sender = policy.rewrite.from.clone().unwrap_or_default();
            let routing = u.senders.join(" ");
            match &u.transport {
                Transport::Smtp(s) => Row {
                    name: u.name.clone(),
                    host: s.host.clone(),
                    port: s.port.to_string(),
                    auth: s.auth.to_string(),
                    security: s.conn.to_string(),
                    sender,
                    user: s
                        .credentials
                        .as_ref()
                        .map(|c| c.username.clone())
                        .unwrap_or_default(),
                    routing,
                    default: u.default,
                    limits: limits(&s.limits()),
                },
                Transport::Graph(g) => Row {
                    name: u.name.clone(),
                    host: g.graph_url.clone(),
                    port: String::new(),
                    auth: "oauth2".into(),
                    security: "https".into(),
                    sender,
                    user: g.mailbox.clone().unwrap_or_default(),
                    routing,
                    default: u.default,
                    limits: limits(&g.limits),
                },
                Transport::File { dir } => Row {
                    name: u.name.clone(),
                    host: format!("file:{}", dir.display()),
                    port: String::new(),
                    auth: String::new(),
                    security: String::new(),
                    sender,
                    user: String::new(),
                    routing,
                    default: u.default,
                    limits: String::new(),
                },
            }
        })
        .collect()
}

fn limits(s: &ProviderLimits) -> String {
    let mut parts = Vec::new();
    if let Some(r) = s.rate {
        parts.push(format!("{}/{}s", r.count, r.per.as_secs()));
    }
    if let Some(b) = s.batch {
        parts.push(format!("LIMITE:{} WAIT:{}", b.size, b.wait.as_secs_f64()));
    }
    if let Some(q) = &s.quota {
        for w in &q.windows {
            parts.push(format!("{} {} {}", w.name, w.limit, q.count));
        }
    }
    if let Some(n) = s.max_recipients_per_message {
        parts.push(format!("{n} rcpt/msg"));
    }
    parts.push(format!("{} conn", s.max_connections));
    parts.join("; ")
}

pub fn upstreams(config: &Config, format: Format) -> String {
    let rows = rows(config);
    match format {
        Format::Json => serde_json::to_string_pretty(&rows).unwrap_or_default() + "\n",
        Format::Csv => {
            let mut out =
                String::from("name,host,port,auth,security,sender,user,routing,default,limits\n");
            for r in &rows {
                let cells = [
                    &r.name,
                    &r.host,
                    &r.port,
                    &r.auth,
                    &r.security,
                    &r.sender,
                    &r.user,
                    &r.routing,
                    &r.default.to_string(),
                    &r.limits,
                ];
                let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
                let _ = writeln!(out, "{}", line.join(","));
            }
            out
        }
        Format::Table => {
            let header = [
                "name", "host", "port", "auth", "security", "sender", "user", "routing", "default",
                "limits",
            ];
            let cells: Vec<[String; 10]> = rows
                .iter()
                .map(|r| {
                    [
                        r.name.clone(),
                        r.host.clone(),
                        r.port.clone(),
                        r.auth.clone(),
                        r.security.clone(),
                        r.sender.clone(),
                        r.user.clone(),
                        r.routing.clone(),
                        if r.default {
                            "yes".into()
                        } else {
                            String::new()
                        },
                        r.limits.clone(),
                    ]
                })
                .collect();
            table(&header, &cells)
        }
    }
}

/// RFC 4180: quote cells holding a comma, a quote or a line break. A cell a spreadsheet would
/// run as a formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a
/// leading `'`, so an exported list opened in Excel or LibreOffice runs nothing.
fn csv_cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut width = header.map(str::len);
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let padded: Vec<String> = cells
            .iter()
            .zip(width)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", padded.join("  ").trim_end());
    };
    line(header.to_vec(), &mut out);
    for r in rows {
        line(r.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

/// The presets, each with what it sets and how to log in.
pub fn presets() -> String {
    let mut out = String::new();
    for p in PRESETS {
        preset(p, &mut out);
    }
    out.push_str("use one with preset = \"NAME\" in an [[upstream]]; keys set there win over it\n");
    out
}

fn preset(p: &Preset, out: &mut String) {
    let _ = writeln!(out, "{}  {}", p.name, p.title);
    if p.kind == "graph" {
        let _ = writeln!(
            out,
            "  kind graph  https://{}  OAuth2 token (Mail.Send)",
            p.host
        );
    } else {
        let _ = writeln!(
            out,
            "  host {}  port {}  conn {}  auth {}",
            p.host, p.port, p.conn, p.auth
        );
    }
    let l = &p.limits;
    let mut limits = Vec::new();
    if let Some(r) = l.rate {
        limits.push(format!("rate {}/{}s", r.count, r.per.as_secs()));
    }
    let count = l.count.unwrap_or_default();
    for (name, v) in [
        ("per_hour", l.per_hour),
        ("per_day", l.per_day),
        ("per_week", l.per_week),
    ] {
        if let Some(v) = v {
            limits.push(format!("{name} {v} {count}"));
        }
    }
    if let Some(n) = l.max_connections {
        limits.push(format!("max_connections {n}"));
    }
    if let Some(n) = l.max_recipients_per_message {
        limits.push(format!("max_recipients_per_message {n}"));
    }
    let limits = if limits.is_empty() {
        "none published".to_string()
    } else {
        limits.join(", ")
    };
    let _ = writeln!(out, "  limits: {limits}");
    let _ = writeln!(out, "  password: {}\n", p.advice);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn csv_quotes_cells_with_commas_and_quotes() {
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("plain"), "plain");
    }

    #[test]
    fn csv_cells_that_a_spreadsheet_would_run_are_defused() {
        assert_eq!(csv_cell("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(csv_cell("@SUM(1)"), "'@SUM(1)");
        assert_eq!(csv_cell("+1,2"), "\"'+1,2\"");
        assert_eq!(csv_cell("-x"), "'-x");
    }

    #[test]
    fn the_server_list_has_one_row_per_upstream_with_its_columns() {
        let c = Config::load(
            "[[upstream]]\nname = \"o365\"\npreset = \"office365\"\nusername = \"payroll@acme.ch\"\n\
             password = \"s3cret\"\nsenders = [\"acme.ch\"]\ndefault = true\n\
             [upstream.rewrite]\nfrom = \"payroll@acme.ch\"\n\n\
             [[upstream]]\nname = \"outbox\"\nkind = \"file\"\ndir = \"outbox\"\n",
            Path::new("t.toml"),
        )
        .unwrap();
        let csv = upstreams(&c, Format::Csv);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "name,host,port,auth,security,sender,user,routing,default,limits"
        );
        assert_eq!(
            lines[1],
            "o365,smtp.office365.com,587,login,starttls,payroll@acme.ch,payroll@acme.ch,acme.ch,true,30/60s; per_day 10000 recipients; 500 rcpt/msg; 3 conn"
        );
        assert!(lines[2].starts_with("outbox,file:outbox,"), "{csv}");
        assert!(!csv.contains("s3cret"));
        let json: serde_json::Value = serde_json::from_str(&upstreams(&c, Format::Json)).unwrap();
        assert_eq!(json[0]["security"], "starttls");
        let table = upstreams(&c, Format::Table);
        assert!(
            table.lines().next().unwrap().starts_with("name  "),
            "{table}"
        );
    }

    #[test]
    fn presets_list_every_provider_with_its_settings_and_advice() {
        let text = presets();
        for name in [
            "office365",
            "gmail",
            "infomaniak",
            "bluewin",
            "office365-graph",
        ] {
            assert!(text.contains(&format!("{name}  ")), "{text}");
        }
        assert!(
            text.contains("kind graph  https://graph.microsoft.com"),
            "{text}"
        );
        assert!(
            text.contains("host smtp.office365.com  port 587  conn starttls  auth login"),
            "{text}"
        );
        assert!(text.contains("per_day 10000 recipients"), "{text}");
        assert!(text.contains("app password"), "{text}");
    }
}
