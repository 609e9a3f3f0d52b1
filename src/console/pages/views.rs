//! The markup of each page (maud: every value escaped). Texts come from the catalog.

use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

use super::Ctx;
use crate::catalog::{Lang, text};
use crate::console::journal::{CHARTED, Event};
use crate::console::queue::QueueFilter;

pub(super) fn t(lang: Lang, id: &str) -> String {
    text(lang, id, &[])
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

const NAV: [(&str, &str); 7] = [
    ("/", "console-nav-overview"),
    ("/servers", "console-nav-servers"),
    ("/queue", "console-nav-queue"),
    ("/limits", "console-nav-limits"),
    ("/test-mode", "console-nav-test-mode"),
    ("/blacklist", "console-nav-blacklist"),
    ("/journal", "console-nav-journal"),
];

pub(super) fn layout(ctx: &Ctx, title_id: &str, body: Markup) -> Markup {
    let l = ctx.lang;
    html! {
        (DOCTYPE)
        html lang=(l.code()) {
            head {
                meta charset="utf-8";
                title { (t(l, title_id)) " · " (t(l, "console-title")) }
                link rel="stylesheet" href="/static/console.css";
                script src="/static/console.js" defer {}
            }
            body {
                @if let Some(address) = &ctx.test_mode {
                    div.banner role="alert" { (text(l, "console-test-mode-banner", &[("address", address)])) }
                }
                nav {
                    @for (href, id) in NAV { a href=(href) { (t(l, id)) } }
                    span.langs { a href="/lang/en" { "EN" } a href="/lang/fr" { "FR" } a href="/lang/de" { "DE" } }
                    form.inline method="post" action="/logout" {
                        input type="hidden" name="csrf" value=(ctx.csrf);
                        button { (t(l, "console-logout")) }
                    }
                }
                main { h1 { (t(l, title_id)) } (body) }
            }
        }
    }
}

pub fn login(l: Lang, error: &str, seconds: &str, has_password: bool) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(l.code()) {
            head { meta charset="utf-8"; title { (t(l, "console-title")) } link rel="stylesheet" href="/static/console.css"; }
            body.login {
                main {
                    h1 { (t(l, "console-login-title")) }
                    @if error == "wrong" { p.error { (t(l, "console-login-wrong")) } }
                    @if error == "banned" { p.error { (text(l, "console-login-banned", &[("seconds", seconds)])) } }
                    @if !has_password { p { (t(l, "console-login-no-password")) } }
                    form method="post" action="/login" {
                        label { (t(l, "console-login-password")) " " input type="password" name="password" autofocus; }
                        button { (t(l, "console-login-button")) }
                    }
                }
            }
        }
    }
}

pub fn overview(ctx: &Ctx, status: &Value) -> Markup {
    let l = ctx.lang;
    let q = &status["queue"];
    let age = format!("{} s", s(&q["oldest_age_seconds"]));
    let counts = text(
        l,
        "console-queue-counts",
        &[
            ("messages", &s(&q["messages"])),
            ("waiting", &s(&q["waiting"])),
            ("deferred", &s(&q["deferred"])),
            ("limited", &s(&q["limited"])),
            ("held", &s(&q["held"])),
            ("age", &age),
        ],
    );
    layout(
        ctx,
        "console-nav-overview",
        html! {
            p id="queue-counts" { (counts) }
            (upstream_table(l, status))
            h2 { (t(l, "console-chart-title")) }
            (chart(l, &status["last_day"]))
        },
    )
}

fn upstream_table(l: Lang, status: &Value) -> Markup {
    html! {
        table id="upstreams" {
            tr { th { (t(l, "console-upstream")) } th { (t(l, "console-health")) } th { (t(l, "console-quota")) } th { (t(l, "console-connections")) } }
            @for u in status["upstreams"].as_array().into_iter().flatten() {
                tr {
                    td { (s(&u["name"])) }
                    td {
                        (t(l, &format!("console-health-{}", match s(&u["health"]).as_str() { "ok" => "ok", "failing" => "failing", _ => "unknown" })))
                        @if !u["last_error"].is_null() { br; small { (t(l, "console-last-error")) ": " (s(&u["last_error"])) } }
                        @if !u["paused_until"].is_null() { br; small.warn { (text(l, "console-paused-until", &[("at", &s(&u["paused_until"]))])) } }
                    }
                    td { @for w in u["quota"].as_array().into_iter().flatten() {
                        div { (s(&w["window"])) ": " (text(l, "console-used", &[("used", &s(&w["used"])), ("limit", &s(&w["limit"])), ("left", &s(&w["left"]))]))
                            @if !w["next_at"].is_null() { ", " (text(l, "console-next-at", &[("at", &s(&w["next_at"]))])) } }
                    } }
                    td { (s(&u["connections"])) }
                }
            }
        }
    }
}

/// Bars per hour for the last 24 hours, one colour per outcome (inline SVG, no script).
fn chart(l: Lang, day: &Value) -> Markup {
    let hours = day.as_array().cloned().unwrap_or_default();
    let max = hours
        .iter()
        .flat_map(|h| CHARTED.iter().map(move |c| h[*c].as_u64().unwrap_or(0)))
        .max()
        .unwrap_or(0)
        .max(1);
    let (w, h, group) = (720.0, 140.0, 30.0);
    html! {
        svg id="chart" viewBox=(format!("0 0 {w} {}", h + 20.0)) width="720" height="160" role="img" aria-label=(t(l, "console-chart-title")) {
            @for (i, hour) in hours.iter().enumerate() {
                @for (k, c) in CHARTED.iter().enumerate() {
                    @let n = hour[*c].as_u64().unwrap_or(0);
                    @let bh = (n as f64 / max as f64) * h;
                    rect class=(format!("bar {c}")) x=(format!("{:.1}", i as f64 * group + k as f64 * 7.0)) y=(format!("{:.1}", h - bh)) width="6" height=(format!("{bh:.1}")) {
                        title { (n) " " (t(l, &format!("console-chart-{c}"))) }
                    }
                }
            }
        }
        p.legend { @for c in CHARTED { span class=(format!("key {c}")) { (t(l, &format!("console-chart-{c}"))) } " " } }
    }
}

pub fn queue(ctx: &Ctx, f: &QueueFilter, upstreams: &[String], rows: &[Value]) -> Markup {
    let l = ctx.lang;
    layout(
        ctx,
        "console-nav-queue",
        html! {
            form.filter method="get" action="/queue" {
                label { (t(l, "console-sender")) " " input name="sender" value=(f.sender); }
                label { (t(l, "console-recipient")) " " input name="recipient" value=(f.recipient); }
                label { (t(l, "console-state")) " " select name="state" {
                    @for st in ["", "waiting", "deferred", "limited", "held"] {
                        option value=(st) selected[f.state == st] { @if st.is_empty() { (t(l, "console-any")) } @else { (st) } }
                    }
                } }
                label { (t(l, "console-upstream")) " " select name="upstream" {
                    option value="" selected[f.upstream.is_empty()] { (t(l, "console-any")) }
                    @for u in upstreams { option value=(u) selected[&f.upstream == u] { (u) } }
                } }
                button { (t(l, "console-filter")) }
            }
            @if rows.is_empty() { p { (t(l, "console-queue-empty")) } }
            @else { table id="queue" {
                tr { th { "ID" } th { (t(l, "console-sender")) } th { (t(l, "console-recipient")) } th { (t(l, "console-upstream")) } th { (t(l, "console-state")) } th { (t(l, "console-attempts")) } th { (t(l, "console-next-attempt")) } }
                @for r in rows {
                    tr {
                        td { a href=(format!("/queue/{}", s(&r["id"]))) { (s(&r["id"])) } }
                        td { (s(&r["from"])) }
                        td { @for rc in r["recipients"].as_array().into_iter().flatten() { div { (s(&rc["to"])) } } }
                        td { (s(&r["upstream"])) } td { (s(&r["state"])) } td { (s(&r["attempts"])) } td { (s(&r["next_attempt"])) }
                    }
                }
            } }
        },
    )
}

pub fn message(ctx: &Ctx, m: &Value) -> Markup {
    let l = ctx.lang;
    let id = s(&m["id"]);
    layout(
        ctx,
        "console-nav-queue",
        html! {
            h2 { (id) }
            p { (t(l, "console-sender")) ": " (s(&m["from"])) }
            ul { @for r in m["recipients"].as_array().into_iter().flatten() { li { (s(&r["to"])) ": " (s(&r["state"])) } } }
            div.actions { @for a in ["retry", "hold", "release", "delete", "delete-silent"] {
                form.inline method="post" action=(format!("/queue/{id}/{a}")) {
                    input type="hidden" name="csrf" value=(ctx.csrf);
                    button name="action" value=(a) { (t(l, &format!("console-{a}"))) }
                }
            } }
            h2 { (t(l, "console-message-headers")) }
            table.headers { @for h in m["headers"].as_array().into_iter().flatten() { tr { th { (s(&h["name"])) } td { (s(&h["value"])) } } } }
            h2 { (t(l, "console-message-history")) }
            (events(l, &m["history"].as_array().cloned().unwrap_or_default().into_iter().filter_map(|v| serde_json::from_value::<EventView>(v).ok()).collect::<Vec<_>>()))
        },
    )
}

#[derive(serde::Deserialize)]
struct EventView {
    at: i64,
    event: String,
    fields: Vec<(String, String)>,
}

fn events(l: Lang, list: &[EventView]) -> Markup {
    html! {
        table id="journal" {
            tr { th { (t(l, "console-time")) } th { (t(l, "console-event")) } th { (t(l, "console-details")) } }
            @for e in list {
                tr { td { (crate::throttle::local(e.at)) } td { (e.event) } td { @for (k, v) in &e.fields { span.field { b { (k) } "=" (v) } " " } } }
            }
        }
    }
}

pub fn limits(ctx: &Ctx, status: &Value) -> Markup {
    let l = ctx.lang;
    let ups = status["upstreams"].as_array().cloned().unwrap_or_default();
    layout(
        ctx,
        "console-nav-limits",
        html! {
            @if ups.is_empty() { p { (t(l, "console-no-limits")) } }
            @else { (upstream_table(l, status)) }
            p { (t(l, "console-reset-hint")) }
            form method="post" action="/limits/reset" {
                input type="hidden" name="csrf" value=(ctx.csrf);
                select name="upstream" { option value="" { (t(l, "console-any")) } @for u in &ups { option value=(s(&u["name"])) { (s(&u["name"])) } } }
                button id="reset" { (t(l, "console-reset")) }
            }
        },
    )
}

pub fn test_mode(ctx: &Ctx, tm: &Value, error: &str, saved: bool) -> Markup {
    let l = ctx.lang;
    layout(
        ctx,
        "console-nav-test-mode",
        html! {
            @if saved { p.ok { (t(l, "console-saved")) } }
            @if !error.is_empty() { p.error { (text(l, "console-error", &[("reason", error)])) } }
            form method="post" action="/test-mode" {
                input type="hidden" name="csrf" value=(ctx.csrf);
                label { input type="checkbox" name="enabled" checked[tm["enabled"].as_bool() == Some(true)]; " " (t(l, "console-test-mode-on")) }
                label { (t(l, "console-test-mode-redirect")) " " input type="email" name="redirect_to" value=(s(&tm["redirect_to"])); }
                button id="save" { (t(l, "console-save")) }
            }
        },
    )
}

pub fn blacklist(ctx: &Ctx, q: &str, list: &[String], error: &str) -> Markup {
    let l = ctx.lang;
    layout(
        ctx,
        "console-nav-blacklist",
        html! {
            p { (t(l, "console-blacklist-hint")) }
            @if !error.is_empty() { p.error { (text(l, "console-error", &[("reason", error)])) } }
            form method="post" action="/blacklist/add" {
                input type="hidden" name="csrf" value=(ctx.csrf);
                input name="entry" required;
                button id="add" { (t(l, "console-blacklist-add")) }
            }
            form.filter method="get" action="/blacklist" { input name="q" value=(q); button { (t(l, "console-filter")) } }
            @if list.is_empty() { p { (t(l, "console-blacklist-empty")) } }
            ul id="blacklist" { @for e in list { li {
                (e) " "
                form.inline method="post" action="/blacklist/remove" {
                    input type="hidden" name="csrf" value=(ctx.csrf);
                    input type="hidden" name="entry" value=(e);
                    button { (t(l, "console-blacklist-remove")) }
                }
            } } }
        },
    )
}

pub fn journal(ctx: &Ctx, filter: &str, list: &[Event]) -> Markup {
    let l = ctx.lang;
    let views: Vec<EventView> = list
        .iter()
        .map(|e| EventView {
            at: e.at,
            event: e.event.clone(),
            fields: e.fields.clone(),
        })
        .collect();
    layout(
        ctx,
        "console-nav-journal",
        html! {
            form.filter method="get" action="/journal" { input name="filter" value=(filter); button { (t(l, "console-filter")) } }
            p { (t(l, "console-journal-live")) }
            div id="live" data-filter=(filter) {}
            (events(l, &views))
        },
    )
}
