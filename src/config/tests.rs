use super::*;

fn load(text: &str) -> Result<Config, ConfigErrors> {
    Config::load(text, Path::new("test.toml"))
}

fn only_error(text: &str) -> ConfigError {
    let errs = load(text).unwrap_err().0;
    assert_eq!(errs.len(), 1, "{errs:?}");
    errs.into_iter().next().unwrap()
}

const ONE_UPSTREAM: &str = r#"
[[upstream]]
name = "isp"
host = "smtp.example.net"
"#;

#[test]
fn embedded_default_listens_on_localhost_2525_and_writes_to_outbox() {
    let c = Config::embedded_default();
    assert_eq!(c.server.listen, vec!["127.0.0.1:2525".parse().unwrap()]);
    assert!(
        matches!(&c.upstreams[0].transport, Transport::File { dir } if dir == Path::new("outbox"))
    );
}

#[test]
fn reference_config_is_valid() {
    let text = include_str!("../../conf/smarthost.toml");
    let c = Config::load(text, Path::new("conf/smarthost.toml")).unwrap();
    assert_eq!(c.server.max_message_size, 35_000_000);
}

#[test]
fn port_defaults_follow_the_conn_mode() {
    for (conn, port) in [
        ("ssl_tls", 465),
        ("starttls", 587),
        ("plaintext", 25),
        ("auto", 25),
    ] {
        let c = load(&format!("{ONE_UPSTREAM}conn = \"{conn}\"\n")).unwrap();
        let Transport::Smtp(s) = &c.upstreams[0].transport else {
            panic!()
        };
        assert_eq!(s.port, port, "{conn}");
    }
}

#[test]
fn cresus_port_string_sets_conn_and_auth() {
    let c = load(&format!(
        "{ONE_UPSTREAM}port = \"465 AUTH:CRAM_MD5 CONN:SSL_TLS\"\nusername = \"u\"\npassword = \"p\"\n"
    ))
    .unwrap();
    let Transport::Smtp(s) = &c.upstreams[0].transport else {
        panic!()
    };
    assert_eq!(
        (s.port, s.conn, s.auth),
        (465, ConnMode::SslTls, AuthMode::CramMd5)
    );
}

#[test]
fn unknown_word_in_port_string_names_file_line_key_and_word() {
    let e = only_error(&format!("{ONE_UPSTREAM}port = \"587 AUTH:LOGIN TURBO\"\n"));
    assert_eq!((e.line, e.key.as_str()), (5, "upstream.port"));
    assert!(e.message.contains("`TURBO`"), "{e}");
    assert!(
        e.to_string()
            .starts_with("test.toml:5: key `upstream.port`"),
        "{e}"
    );
}

#[test]
fn unknown_key_is_an_error_with_its_line() {
    let e = only_error(&format!(
        "[server]\nlisten = [\"127.0.0.1:2525\"]\nhostnme = \"x\"\n{ONE_UPSTREAM}"
    ));
    assert_eq!(e.line, 3);
    assert!(e.message.contains("hostnme"), "{e}");
}

#[test]
fn bad_conn_mode_is_an_error_naming_the_key() {
    let e = only_error(&format!("{ONE_UPSTREAM}conn = \"sometimes\"\n"));
    assert_eq!((e.line, e.key.as_str()), (5, "upstream.conn"));
}

#[test]
fn several_upstreams_need_exactly_one_default() {
    let text = format!("{ONE_UPSTREAM}\n[[upstream]]\nname = \"other\"\nhost = \"h\"\n");
    let e = only_error(&text);
    assert_eq!(e.key, "upstream.default");
    assert!(load(&format!("{text}default = true\n")).is_ok());
}

#[test]
fn conflicting_auth_in_key_and_port_string_is_an_error() {
    let e = only_error(&format!(
        "{ONE_UPSTREAM}port = \"587 AUTH:LOGIN\"\nauth = \"plain\"\nusername = \"u\"\npassword = \"p\"\n"
    ));
    assert_eq!(e.key, "upstream.auth");
    assert_eq!(e.line, 6);
}

#[test]
fn every_error_is_reported_not_only_the_first() {
    let text = "[[upstream]]\nname = \"a\"\n\n[[upstream]]\nname = \"b\"\nhost = \"h\"\nusername = \"u\"\n";
    let errs = load(text).unwrap_err().0;
    assert!(errs.len() >= 2, "{errs:?}");
    assert!(errs.iter().any(|e| e.key == "upstream.host" && e.line == 1));
    assert!(
        errs.iter()
            .any(|e| e.key == "upstream.password" && e.line == 4)
    );
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let c = load(&format!(
        "{ONE_UPSTREAM}username = \"u\"\npassword = \"hunter2-secret\"\n"
    ))
    .unwrap();
    let dump = format!("{c:?}");
    assert!(!dump.contains("hunter2-secret"), "{dump}");
    assert!(dump.contains("redacted"));
}

#[test]
fn config_errors_never_echo_a_password_value() {
    // A password given where a number is expected must not be echoed back.
    let errs = load(&format!(
        "{ONE_UPSTREAM}username = \"u\"\npassword = 12345678\n"
    ))
    .unwrap_err();
    assert!(!errs.to_string().contains("12345678"), "{errs}");
}

#[test]
fn unreadable_file_is_reported_with_its_path() {
    let e = Config::load_file(Path::new("/nonexistent/smarthost.toml")).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/smarthost.toml"), "{e}");
}

#[test]
fn a_bad_notify_default_is_an_error_naming_the_key() {
    let e = only_error(&format!("{ONE_UPSTREAM}notify = \"SOMETIMES\"\n"));
    assert_eq!((e.key.as_str(), e.line), ("upstream.notify", 5));
}

#[test]
fn a_fallback_must_name_another_upstream() {
    let e = only_error(&format!("{ONE_UPSTREAM}fallback = \"nowhere\"\n"));
    assert_eq!((e.key.as_str(), e.line), ("upstream.fallback", 5));
}

#[test]
fn zero_connections_is_an_error_naming_the_key() {
    let e = only_error(&format!(
        "{ONE_UPSTREAM}\n[upstream.limits]\nmax_connections = 0\n"
    ));
    assert_eq!(e.key, "upstream.max_connections");
}

fn smtp(c: &Config) -> &SmtpUpstream {
    match &c.upstreams[0].transport {
        Transport::Smtp(s) => s,
        other => panic!("not SMTP: {other:?}"),
    }
}

#[test]
fn quotas_per_hour_day_and_week_count_messages_unless_told_recipients() {
    let c = load(&format!(
        "{ONE_UPSTREAM}\n[upstream.limits]\nper_hour = 5\nper_week = 700\n"
    ))
    .unwrap();
    let q = smtp(&c).quota.clone().unwrap();
    assert_eq!(q.count, Count::Messages);
    let windows: Vec<(&str, u64, u32)> = q
        .windows
        .iter()
        .map(|w| (w.name, w.span.as_secs(), w.limit))
        .collect();
    assert_eq!(
        windows,
        vec![("per_hour", 3600, 5), ("per_week", 604_800, 700)]
    );
    let c = load(&format!(
        "{ONE_UPSTREAM}\n[upstream.limits]\nper_day = 10\ncount = \"recipients\"\n"
    ))
    .unwrap();
    assert_eq!(smtp(&c).quota.as_ref().unwrap().count, Count::Recipients);
}

#[test]
fn a_zero_quota_is_an_error_naming_the_key() {
    let e = only_error(&format!("{ONE_UPSTREAM}\n[upstream.limits]\nper_day = 0\n"));
    assert_eq!(e.key, "upstream.per_day");
}

#[test]
fn an_unknown_count_is_an_error_naming_the_key() {
    let e = only_error(&format!(
        "{ONE_UPSTREAM}\n[upstream.limits]\nper_day = 5\ncount = \"bytes\"\n"
    ));
    assert!(e.key.ends_with("count"), "{e}");
    assert!(e.message.contains("messages or recipients"), "{e}");
}

#[test]
fn the_office365_preset_gives_host_modes_and_published_limits() {
    let c = load("[[upstream]]\nname = \"o365\"\npreset = \"office365\"\nusername = \"a@b.ch\"\npassword = \"x\"\n")
        .unwrap();
    let s = smtp(&c);
    assert_eq!((s.host.as_str(), s.port), ("smtp.office365.com", 587));
    assert_eq!((s.conn, s.auth), (ConnMode::StartTls, AuthMode::Login));
    assert_eq!(s.rate, Some("30/min".parse().unwrap()));
    assert_eq!(
        (s.max_connections, s.max_recipients_per_message),
        (3, Some(500))
    );
    let q = s.quota.as_ref().unwrap();
    assert_eq!(q.count, Count::Recipients);
    assert_eq!((q.windows[0].name, q.windows[0].limit), ("per_day", 10_000));
}

#[test]
fn the_gmail_preset_counts_2000_messages_a_day_and_100_recipients_a_message() {
    let c = load(
        "[[upstream]]\nname = \"g\"\npreset = \"gmail\"\nusername = \"a@b.ch\"\npassword = \"x\"\n",
    )
    .unwrap();
    let s = smtp(&c);
    assert_eq!(
        (s.host.as_str(), s.port, s.conn),
        ("smtp.gmail.com", 587, ConnMode::StartTls)
    );
    let q = s.quota.as_ref().unwrap();
    assert_eq!((q.count, q.windows[0].limit), (Count::Messages, 2000));
    assert_eq!(s.max_recipients_per_message, Some(100));
}

#[test]
fn explicit_keys_override_the_preset() {
    let c = load(
        "[[upstream]]\nname = \"o365\"\npreset = \"office365\"\nport = 25\nusername = \"a@b.ch\"\npassword = \"x\"\n\
         [upstream.limits]\nmax_connections = 1\nper_hour = 100\n",
    )
    .unwrap();
    let s = smtp(&c);
    assert_eq!(s.port, 25);
    assert_eq!(s.max_connections, 1);
    assert_eq!(
        s.max_recipients_per_message,
        Some(500),
        "kept from the preset"
    );
    let q = s.quota.as_ref().unwrap();
    let names: Vec<&str> = q.windows.iter().map(|w| w.name).collect();
    assert_eq!(names, vec!["per_hour"], "own quotas replace the preset's");
}

#[test]
fn an_unknown_preset_is_an_error_listing_the_known_ones() {
    let e = only_error("[[upstream]]\nname = \"x\"\npreset = \"yahoo\"\n");
    assert_eq!(e.key, "upstream.preset");
    assert!(
        e.message.contains("office365, gmail, infomaniak, bluewin"),
        "{e}"
    );
}

#[test]
fn batch_in_both_the_port_string_and_the_limits_is_an_error() {
    let e = only_error(&format!(
        "{ONE_UPSTREAM}port = \"587 LIMITE:12 WAIT:15.5\"\n\n[upstream.limits]\nbatch = 10\n"
    ));
    assert_eq!(e.key, "upstream.batch");
}

#[test]
fn limits_parse_into_typed_values() {
    let c = load(&format!(
        "{ONE_UPSTREAM}\n[upstream.limits]\nrate = \"30/min\"\nbatch = 12\nbatch_wait = \"15.5s\"\n"
    ))
    .unwrap();
    let Transport::Smtp(s) = &c.upstreams[0].transport else {
        panic!()
    };
    assert_eq!(
        s.rate,
        Some(Rate {
            count: 30,
            per: std::time::Duration::from_secs(60)
        })
    );
    assert_eq!(
        s.batch,
        Some(Batch {
            size: 12,
            wait: std::time::Duration::from_millis(15_500)
        })
    );
}

#[test]
fn spf_defaults_to_warn_rejecting_fail_and_permerror_when_asked() {
    let c = load(ONE_UPSTREAM).unwrap();
    assert_eq!(c.spf.mode, SpfMode::Warn);
    assert_eq!(c.spf.reject_on, [SpfResult::Fail, SpfResult::PermError]);
    assert!(
        c.spf.dns_servers.is_empty(),
        "the system resolver by default"
    );
    assert!(c.dkim.is_none());
}

#[test]
fn spf_reject_on_pass_is_refused_with_its_line() {
    let e = only_error(&format!(
        "[spf]\nmode = \"reject\"\nreject_on = [\"fail\", \"pass\"]\n{ONE_UPSTREAM}"
    ));
    assert_eq!((e.line, e.key.as_str()), (3, "spf.reject_on"));
    assert!(
        e.message.contains("`pass` cannot be refused"),
        "{}",
        e.message
    );
}

#[test]
fn unknown_spf_mode_names_the_key() {
    let e = only_error(&format!("[spf]\nmode = \"strict\"\n{ONE_UPSTREAM}"));
    assert_eq!((e.line, e.key.as_str()), (2, "spf.mode"));
    assert!(e.message.contains("strict"), "{}", e.message);
}

#[test]
fn presets_bring_their_spf_include_and_spf_ips_replace_it() {
    let c = load("[[upstream]]\nname = \"o\"\npreset = \"office365\"\nusername = \"a@b.c\"\npassword_env = \"P\"\n").unwrap();
    let Transport::Smtp(s) = &c.upstreams[0].transport else {
        panic!()
    };
    assert_eq!(
        s.egress,
        Egress::Include("spf.protection.outlook.com".into())
    );
    let c = load("[[upstream]]\nname = \"o\"\npreset = \"office365\"\nusername = \"a@b.c\"\npassword_env = \"P\"\nspf_ips = [\"203.0.113.7\"]\n").unwrap();
    let Transport::Smtp(s) = &c.upstreams[0].transport else {
        panic!()
    };
    assert_eq!(
        s.egress,
        Egress::Addresses(vec!["203.0.113.7".parse().unwrap()])
    );
}

#[test]
fn spf_ips_and_spf_include_together_are_an_error() {
    let e = only_error(
        "[[upstream]]\nname = \"isp\"\nhost = \"smtp.example.net\"\nspf_ips = [\"192.0.2.1\"]\nspf_include = \"spf.example.net\"\n",
    );
    assert_eq!((e.line, e.key.as_str()), (5, "upstream.spf_include"));
}

#[test]
fn a_dkim_key_file_that_cannot_be_read_names_file_line_and_key() {
    let e = only_error(&format!(
        "[dkim]\ndomain = \"example.com\"\nselector = \"s1\"\nkey_file = \"/nonexistent/dkim.pem\"\n{ONE_UPSTREAM}"
    ));
    assert_eq!((e.line, e.key.as_str()), (4, "dkim.key_file"));
    assert!(e.message.contains("/nonexistent/dkim.pem"), "{}", e.message);
}

#[test]
fn a_dkim_domain_that_is_not_a_domain_is_refused() {
    let e = only_error(&format!(
        "[dkim]\ndomain = \"example com\"\nselector = \"s1\"\nkey_file = \"k.pem\"\n{ONE_UPSTREAM}"
    ));
    assert_eq!(e.key, "dkim.domain");
}

#[test]
fn a_microsoft_tenant_fills_the_token_urls_and_the_app_scope() {
    let c = load(
        "[[upstream]]\nname = \"o365\"\npreset = \"office365\"\nusername = \"payroll@example.com\"\n\
         [upstream.oauth2]\nflow = \"client_credentials\"\ntenant = \"example.onmicrosoft.com\"\n\
         client_id = \"app\"\nclient_secret_env = \"O365_SECRET\"\n",
    )
    .unwrap();
    let s = smtp(&c);
    let o = s.oauth2.as_ref().unwrap();
    assert_eq!(
        o.token_url,
        "https://login.microsoftonline.com/example.onmicrosoft.com/oauth2/v2.0/token"
    );
    assert_eq!(o.scope, "https://outlook.office365.com/.default");
    // The preset's LOGIN would send a password: with a grant, auto picks XOAUTH2/OAUTHBEARER.
    assert_eq!(s.auth, AuthMode::Auto);
    assert_eq!(s.credentials.as_ref().unwrap().secret, Secret::OAuth2);
}

#[test]
fn the_gmail_preset_brings_google_endpoints_and_the_mail_scope() {
    let c = load(
        "[[upstream]]\nname = \"g\"\npreset = \"gmail\"\nusername = \"a@example.com\"\n\
         [upstream.oauth2]\nflow = \"refresh_token\"\nclient_id = \"app\"\nclient_secret_file = \"s.txt\"\n",
    )
    .unwrap();
    let o = smtp(&c).oauth2.clone().unwrap();
    assert_eq!(o.token_url, "https://oauth2.googleapis.com/token");
    assert_eq!(o.scope, "https://mail.google.com/");
}

#[test]
fn a_password_beside_an_oauth2_grant_is_refused() {
    let e = only_error(
        "[[upstream]]\nname = \"o\"\nhost = \"smtp.example.net\"\nusername = \"a@b.c\"\npassword = \"x\"\n\
         [upstream.oauth2]\nflow = \"refresh_token\"\ntoken_url = \"https://id.example.net/token\"\n\
         client_id = \"app\"\nscope = \"smtp\"\n",
    );
    assert_eq!(e.key, "upstream.password");
    assert!(
        e.message.contains("token replaces the password"),
        "{}",
        e.message
    );
}

#[test]
fn a_token_url_over_plain_http_to_another_host_is_refused() {
    let e = only_error(
        "[[upstream]]\nname = \"o\"\nhost = \"smtp.example.net\"\nusername = \"a@b.c\"\n\
         [upstream.oauth2]\nflow = \"refresh_token\"\ntoken_url = \"http://id.example.net/token\"\n\
         client_id = \"app\"\nscope = \"smtp\"\n",
    );
    assert_eq!(e.key, "upstream.token_url");
    assert!(e.message.contains("https://"), "{}", e.message);
}

#[test]
fn client_credentials_without_a_secret_is_refused() {
    let e = only_error(
        "[[upstream]]\nname = \"o\"\nhost = \"smtp.example.net\"\nusername = \"a@b.c\"\n\
         [upstream.oauth2]\nflow = \"client_credentials\"\ntoken_url = \"https://id.example.net/token\"\n\
         client_id = \"app\"\nscope = \"smtp\"\n",
    );
    assert_eq!(e.key, "upstream.client_secret_env");
}

#[test]
fn a_password_mechanism_with_an_oauth2_grant_is_refused() {
    let e = only_error(
        "[[upstream]]\nname = \"o\"\nhost = \"smtp.example.net\"\nusername = \"a@b.c\"\nauth = \"login\"\n\
         [upstream.oauth2]\nflow = \"refresh_token\"\ntoken_url = \"https://id.example.net/token\"\n\
         client_id = \"app\"\nscope = \"smtp\"\n",
    );
    assert_eq!(e.key, "upstream.auth");
}
