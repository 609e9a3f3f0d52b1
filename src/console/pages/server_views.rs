//! The markup of the server pages: the list (the default marked with a star), the form that
//! creates or edits one server (a preset fills its fields through the page's script, which
//! reads the presets from `data-` attributes: the CSP forbids inline script), and the Tester's
//! steps and verdict. Every value escaped by maud; texts from the catalog; never a password.

use maud::{Markup, html};

use super::Ctx;
use super::views::{layout, t};
use crate::catalog::{Lang, text};
use crate::config::presets::PRESETS;
use crate::console::servers::{FieldError, ServerView};
use crate::console::tester::TestResult;

const CONN: [&str; 4] = ["auto", "plaintext", "ssl_tls", "starttls"];
const AUTH: [&str; 8] = [
    "auto",
    "none",
    "plain",
    "login",
    "cram_md5",
    "ntlm",
    "xoauth2",
    "oauthbearer",
];

/// A server's name in a URL path (names typed in the console are URL-safe already; older
/// names from the file may not be).
pub fn href(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn notice(l: Lang, saved: bool, error: &str) -> Markup {
    html! {
        @if saved { p.ok { (t(l, "console-saved")) } }
        @if !error.is_empty() { p.error role="alert" { (text(l, "console-error", &[("reason", error)])) } }
    }
}

pub fn list(ctx: &Ctx, servers: &[ServerView], saved: bool, error: &str) -> Markup {
    let l = ctx.lang;
    layout(
        ctx,
        "console-nav-servers",
        html! {
            (notice(l, saved, error))
            p.actions {
                a.button id="add-server" href="/servers/new" { (t(l, "console-server-add")) }
                " "
                a href="/api/v1/servers/export.csv" download { (t(l, "console-server-export-csv")) }
                " "
                a href="/api/v1/servers/export.json" download { (t(l, "console-server-export-json")) }
            }
            table id="servers" {
                tr {
                    th { "" } th { (t(l, "console-server-name")) } th { (t(l, "console-server-host")) }
                    th { (t(l, "console-server-port")) } th { "CONN" } th { "AUTH" }
                    th { (t(l, "console-server-username")) } th { (t(l, "console-server-password")) }
                    th { (t(l, "console-server-senders")) } th { (t(l, "console-nav-limits")) } th { "" }
                }
                @for s in servers {
                    tr data-server=(s.name) {
                        td.star { @if s.default { span title=(t(l, "console-server-default")) { "★" } } }
                        td { (s.name) @if let Some(p) = s.preset { br; small { (p) } } }
                        td { (s.host) }
                        td { @if let Some(p) = s.port { (p) } }
                        td { (s.conn) } td { (s.auth) } td { (s.username) }
                        td { @if s.password.is_some() { (t(l, "console-server-password-is-set")) } }
                        td { (s.senders.join(" ")) }
                        td { small { (s.limits) } }
                        td.actions { (row_actions(ctx, s)) }
                    }
                }
            }
        },
    )
}

fn row_actions(ctx: &Ctx, s: &ServerView) -> Markup {
    let l = ctx.lang;
    let base = format!("/servers/{}", href(&s.name));
    html! {
        @if s.kind == "smtp" { a.edit href=(format!("{base}/edit")) { (t(l, "console-server-edit")) } " " }
        @if s.kind != "file" { a.tester href=(format!("{base}/test")) { (t(l, "console-server-tester")) } " " }
        @if !s.default {
            form.inline method="post" action=(format!("{base}/default")) {
                input type="hidden" name="csrf" value=(ctx.csrf);
                button.make-default { (t(l, "console-server-make-default")) }
            }
            " "
        }
        form.inline method="post" action=(format!("{base}/delete")) data-confirm=(text(l, "console-server-delete-confirm", &[("name", &s.name)])) {
            input type="hidden" name="csrf" value=(ctx.csrf);
            button.delete { (t(l, "console-server-delete")) }
        }
    }
}

/// What the form shows: the server as it is, or as typed when the change was refused (the
/// password is never sent back; `password_set` says one is configured).
#[derive(Debug, Default, Clone)]
pub struct FormValues {
    pub name: String,
    pub preset: String,
    pub host: String,
    pub port: String,
    pub conn: String,
    pub auth: String,
    pub username: String,
    pub password_set: bool,
    pub ca_file: String,
    pub senders: String,
    pub default: bool,
}

impl From<&ServerView> for FormValues {
    fn from(s: &ServerView) -> FormValues {
        FormValues {
            name: s.name.clone(),
            preset: s.preset.unwrap_or_default().to_string(),
            host: s.host.clone(),
            port: s.port.map(|p| p.to_string()).unwrap_or_default(),
            conn: s.conn.clone(),
            auth: s.auth.clone(),
            username: s.username.clone(),
            password_set: s.password.is_some(),
            ca_file: s.ca_file.clone().unwrap_or_default(),
            senders: s.senders.join(" "),
            default: s.default,
        }
    }
}

/// The create (`editing` None) or edit form, with each field's error beside it.
pub fn form(ctx: &Ctx, editing: Option<&str>, v: &FormValues, errors: &[FieldError]) -> Markup {
    let l = ctx.lang;
    let action = match editing {
        Some(name) => format!("/servers/{}/edit", href(name)),
        None => "/servers/new".to_string(),
    };
    let err = |f: &str| -> Markup {
        html! { @for e in errors.iter().filter(|e| e.field == f) { span.error.field-error data-field=(f) { (e.message) } } }
    };
    let general: Vec<&FieldError> = errors.iter().filter(|e| e.field.is_empty()).collect();
    let title = match editing {
        Some(name) => text(l, "console-server-edit-title", &[("name", name)]),
        None => t(l, "console-server-new-title"),
    };
    layout(
        ctx,
        "console-nav-servers",
        html! {
            h2 { (title) }
            @for e in general { p.error role="alert" { (e.message) } }
            form id="server-form" method="post" action=(action) {
                input type="hidden" name="csrf" value=(ctx.csrf);
                div.form-row { label for="preset" { (t(l, "console-server-preset")) }
                    select id="preset" name="preset" {
                        option value="" { (t(l, "console-server-preset-none")) }
                        @for p in PRESETS.iter().filter(|p| p.kind == "smtp") {
                            option value=(p.name) selected[v.preset == p.name] data-host=(p.host) data-port=(p.port)
                                data-conn=(p.conn.to_string()) data-auth=(p.auth.to_string())
                                data-advice=(t(l, &format!("preset-advice-{}", p.name))) { (p.name) " · " (p.title) }
                        }
                    }
                    (err("preset"))
                    p id="preset-advice" class="hint" {}
                }
                (input_field(l, "name", "text", &v.name, &err("name")))
                (input_field(l, "host", "text", &v.host, &err("host")))
                (input_field(l, "port", "number", &v.port, &err("port")))
                (select_field(l, "conn", &CONN, &v.conn, &err("conn")))
                (select_field(l, "auth", &AUTH, &v.auth, &err("auth")))
                (input_field(l, "username", "text", &v.username, &err("username")))
                div.form-row { label for="password" { (t(l, "console-server-password")) }
                    input id="password" name="password" type="password" value="" autocomplete="new-password";
                    @if v.password_set { span.hint id="password-set" { (t(l, "console-server-password-set")) } }
                    (err("password"))
                }
                (input_field(l, "ca_file", "text", &v.ca_file, &err("ca_file")))
                (input_field(l, "senders", "text", &v.senders, &err("senders")))
                div.form-row { label { input type="checkbox" name="default" checked[v.default]; " " (t(l, "console-server-default")) } (err("default")) }
                button id="save" { (t(l, "console-save")) }
                " " a href="/servers" { (t(l, "console-cancel")) }
            }
        },
    )
}

fn label_id(field: &str) -> String {
    format!("console-server-{}", field.replace('_', "-"))
}

fn input_field(l: Lang, name: &str, kind: &str, value: &str, err: &Markup) -> Markup {
    html! {
        div.form-row {
            label for=(name) { (t(l, &label_id(name))) }
            input id=(name) name=(name) type=(kind) value=(value);
            (err)
        }
    }
}

fn select_field(l: Lang, name: &str, options: &[&str], value: &str, err: &Markup) -> Markup {
    html! {
        div.form-row {
            label for=(name) { (t(l, &label_id(name))) }
            select id=(name) name=(name) {
                @for o in options { option value=(o) selected[*o == value] { (o) } }
            }
            (err)
        }
    }
}

/// The Tester: a recipient to send to (or none), then the steps and the verdict.
pub fn tester(
    ctx: &Ctx,
    name: &str,
    to: &str,
    result: Option<&TestResult>,
    errors: &[FieldError],
) -> Markup {
    let l = ctx.lang;
    layout(
        ctx,
        "console-nav-servers",
        html! {
            h2 { (text(l, "console-tester-title", &[("name", name)])) }
            @for e in errors { p.error role="alert" { (e.message) } }
            form id="tester-form" method="post" action=(format!("/servers/{}/test", href(name))) {
                input type="hidden" name="csrf" value=(ctx.csrf);
                div.form-row {
                    label for="to" { (t(l, "console-tester-to")) }
                    input id="to" name="to" type="email" value=(to);
                }
                p.hint { (t(l, "console-tester-hint")) }
                button id="run-test" data-running=(t(l, "console-tester-running")) { (t(l, "console-tester-run")) }
                " " a href="/servers" { (t(l, "console-nav-servers")) }
            }
            @if let Some(r) = result { (tester_result(l, r)) }
        },
    )
}

fn tester_result(l: Lang, r: &TestResult) -> Markup {
    let v = &r.verdict;
    html! {
        div id="tester-result" {
            p { (r.upstream) ": " (r.target) }
            table id="steps" {
                tr { th { "ms" } th { (t(l, "console-tester-step")) } th { (t(l, "console-details")) } }
                @for s in &r.steps { tr { td.num { (s.ms) } td { (s.label) } td.pre { (s.text) } } }
            }
            div id="verdict" class=(if v.ok { "verdict ok" } else { "verdict error" }) data-code=(v.code) {
                p { b { @if v.ok { (t(l, "console-tester-ok")) } @else { (t(l, "console-tester-failed")) " (" (v.code) ")" } } ": " (v.what) }
                @if let Some(e) = &v.error { p { (t(l, "console-tester-error")) ": " code { (e) } } }
                @if let Some(f) = &v.fix { p.fix { (t(l, "console-tester-fix")) ": " (f) } }
            }
            @if let Some(a) = &r.advice { p.hint id="advice" { code { (a) } } }
        }
    }
}
