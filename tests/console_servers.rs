//! The console's Servers page and its API against a running relay and the real Postfix upstream
//! (tests/harness/): servers created from a preset, edited, deleted and made the default, each
//! change written to the TOML file (comments kept, a `.bak`, checked like check-config first)
//! and applied at once; passwords in a private file and never in an answer; the export; the
//! Tester (send-test) with its steps and verdict, in French when asked; hostile input refused
//! or escaped. The browser tests (tests/browser/) drive the same pages in Chromium.

mod common;

use std::path::PathBuf;

use common::console::{base, http, login};
use common::{Harness, TestRelay, unique};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = "console-pass-servers";
const TYPED_SECRET: &str = "Typed-S3cret-in-the-console";
const FILE_SECRET: &str = "Inline-S3cret-in-the-file";
const COMMENT: &str = "# our provider, do not remove this comment";

/// A relay with a console password, the Postfix upstream as the default, a server that another
/// names as its fallback, and a comment to keep.
async fn relay() -> TestRelay {
    let hash = smarthost::config::hash_password(PASSWORD);
    let upstreams = format!(
        "{COMMENT}\n[[upstream]]\nname = \"harness\"\nhost = \"127.0.0.1\"\nport = 2025 # plain port\n\
         conn = \"plaintext\"\nauth = \"none\"\ndefault = true\nfallback = \"spare\"\n\n\
         [[upstream]]\nname = \"spare\"\nhost = \"127.0.0.1\"\nport = 2587\nconn = \"starttls\"\n\
         username = \"someone@example.test\"\npassword = \"{FILE_SECRET}\"\nsenders = [\"nobody.invalid\"]\n"
    );
    let server = format!("[console]\nlisten = \"127.0.0.1:0\"\npassword_hash = \"{hash}\"\n");
    TestRelay::start_from_file(&upstreams, &server).await
}

async fn get(r: &TestRelay, cookie: &str, path: &str) -> (StatusCode, String) {
    let resp = http()
        .get(format!("{}{path}", base(r)))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}

/// A logged-in session driving the API.
struct Api {
    r: TestRelay,
    cookie: String,
    csrf: String,
}

impl Api {
    async fn new() -> Api {
        let r = relay().await;
        let (cookie, csrf) = login(&r, PASSWORD).await;
        Api { r, cookie, csrf }
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let resp = http()
            .post(format!("{}/api/v1{path}", base(&self.r)))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(
            !text.contains(TYPED_SECRET) && !text.contains(FILE_SECRET),
            "{text}"
        );
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let (status, text) = get(&self.r, &self.cookie, &format!("/api/v1{path}")).await;
        assert!(
            !text.contains(TYPED_SECRET) && !text.contains(FILE_SECRET),
            "{text}"
        );
        (status, text)
    }

    fn toml(&self) -> String {
        std::fs::read_to_string(self.r.config_path()).unwrap()
    }

    fn backup(&self) -> PathBuf {
        self.r.dir.path().join("smarthost.toml.bak")
    }

    fn secrets(&self) -> PathBuf {
        self.r.dir.path().join("spool").join("secrets")
    }

    /// A server on the harness's submission port (STARTTLS, login), trusting its certificate.
    async fn submission_server(&self, name: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            "/servers",
            json!({
                "name": name, "host": "127.0.0.1", "port": 2587, "conn": "starttls",
                "auth": "plain", "username": Harness::get().var("HARNESS_SASL_USER"),
                "password": password, "ca_file": Harness::get().ca(),
            }),
        )
        .await
    }
}

#[tokio::test]
async fn a_server_from_a_preset_is_written_with_its_typed_password_in_a_private_file() {
    let api = Api::new().await;
    let (status, v) = api
        .post(
            "/servers",
            json!({"name": "gm", "preset": "gmail", "username": "pay@acme.ch",
                   "password": TYPED_SECRET, "senders": "acme.ch"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(
        v["server"]["host"], "smtp.gmail.com",
        "the preset filled it"
    );
    assert_eq!(v["server"]["password"], "set");
    let toml = api.toml();
    assert!(toml.contains("preset = \"gmail\""), "{toml}");
    assert!(
        !toml.contains("smtp.gmail.com"),
        "the preset's values stay the preset's: {toml}"
    );
    assert!(!toml.contains(TYPED_SECRET), "{toml}");
    let file = api.secrets().join("gm.password");
    assert!(
        toml.contains(&format!("password_file = \"{}\"", file.display())),
        "{toml}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap().trim_end(),
        TYPED_SECRET
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the password file is the relay's alone");
    }
    assert!(toml.contains(COMMENT), "{toml}");
    assert!(api.backup().exists(), "the previous file is kept");
    // Applied without a restart.
    assert!(api.r.relay.live.config().upstream("gm").is_some());
    let (_, list) = api.get("/servers").await;
    assert!(list.contains("\"gm\""), "{list}");
}

#[tokio::test]
async fn the_tester_passes_against_postfix_and_shows_each_step_with_its_time() {
    let api = Api::new().await;
    let (status, v) = api.submission_server("sub", "secret").await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let rcpt = format!("{}@example.net", unique("tester"));
    let (status, v) = api.post("/servers/sub/test", json!({"to": rcpt})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["verdict"]["ok"], true, "{v}");
    assert_eq!(v["verdict"]["code"], "ok");
    let labels: Vec<&str> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["label"].as_str().unwrap())
        .collect();
    for step in [
        "TCP",
        "greeting",
        "TLS",
        "AUTH",
        "MAIL",
        "RCPT",
        "end of DATA",
    ] {
        assert!(labels.contains(&step), "{step} missing: {labels:?}");
    }
    assert!(v["steps"][0]["ms"].is_u64(), "{v}");
    Harness::get().wait_for(&rcpt).await;
    // Without a recipient: connection and login only.
    let (_, v) = api.post("/servers/sub/test", json!({})).await;
    assert_eq!(v["verdict"]["ok"], true, "{v}");
    assert!(
        v["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["label"] != "MAIL"),
        "{v}"
    );
}

#[tokio::test]
async fn a_wrong_password_gives_the_credentials_verdict_in_the_callers_language() {
    let api = Api::new().await;
    let (status, v) = api.submission_server("sub", TYPED_SECRET).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let (status, v) = api
        .post("/servers/sub/test?lang=fr", json!({"to": "x@example.net"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["verdict"]["ok"], false, "{v}");
    assert_eq!(v["verdict"]["code"], "bad_credentials", "{v}");
    let what = v["verdict"]["what"].as_str().unwrap();
    assert!(
        what.contains("le serveur a refusé le nom d'utilisateur ou le mot de passe"),
        "{v}"
    );
    assert!(
        v["verdict"]["fix"]
            .as_str()
            .unwrap()
            .contains("ressaisissez"),
        "{v}"
    );
    // The browser's language when the request names none.
    let resp = http()
        .post(format!("{}/api/v1/servers/sub/test", base(&api.r)))
        .header("cookie", &api.cookie)
        .header("x-csrf-token", &api.csrf)
        .header("accept-language", "de-CH, de;q=0.9")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["verdict"]["code"], "bad_credentials", "{v}");
    assert!(
        v["verdict"]["what"]
            .as_str()
            .unwrap()
            .contains("Benutzername"),
        "{v}"
    );
}

#[tokio::test]
async fn an_edit_keeps_the_comments_of_the_file_and_the_previous_file_as_a_backup() {
    let api = Api::new().await;
    let before = api.toml();
    let (status, v) = api
        .post(
            "/servers/harness",
            json!({"port": 2591, "senders": ["acme.ch"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let toml = api.toml();
    assert!(toml.contains(COMMENT), "{toml}");
    assert!(
        toml.contains("port = 2591 # plain port"),
        "the value's own comment too: {toml}"
    );
    assert!(toml.contains("senders = [\"acme.ch\"]"), "{toml}");
    assert_eq!(std::fs::read_to_string(api.backup()).unwrap(), before);
    assert_eq!(v["server"]["port"], 2591);
    // Renamed: the new name is live, the old one is gone.
    let (status, v) = api.post("/servers/spare", json!({"name": "spare2"})).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "harness still names spare: {v}"
    );
    assert_eq!(v["field"], "", "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("fallback"),
        "check-config's words: {v}"
    );
}

#[tokio::test]
async fn an_invalid_edit_is_refused_naming_its_field_and_nothing_is_written() {
    let api = Api::new().await;
    let before = api.toml();
    for (body, field) in [
        (json!({"port": 70000}), "port"),
        (json!({"port": "five"}), "port"),
        (json!({"host": "mail server.example"}), "host"),
        (json!({"conn": "tls1.0"}), "conn"),
        (json!({"senders": "a b@c"}), "senders"),
        (json!({"name": "two words"}), "name"),
        // Fine at the edge, refused by the configuration's own check (as check-config says it).
        (json!({"auth": "login"}), "auth"),
    ] {
        let (status, v) = api.post("/servers/harness", body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        assert_eq!(v["field"], field, "{body}: {v}");
        assert!(!v["error"].as_str().unwrap().is_empty());
    }
    let (status, v) = api.post("/servers/harness", json!({"port": [1]})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (status, _) = api.post("/servers/harness", json!({"colour": "red"})).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown fields are refused"
    );
    assert_eq!(api.toml(), before, "nothing written");
    assert!(!api.backup().exists(), "not even a backup");
    let live = api.r.relay.live.config();
    assert!(matches!(&live.upstream("harness").unwrap().transport,
        smarthost::config::Transport::Smtp(s) if s.port == 2025));
}

#[tokio::test]
async fn deleting_the_default_or_a_server_another_names_is_refused_with_a_clear_error() {
    let api = Api::new().await;
    let before = api.toml();
    let (status, v) = api.post("/servers/harness/delete", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("default server"),
        "{v}"
    );
    let (status, v) = api.post("/servers/spare/delete", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("[[upstream]] harness"),
        "{v}"
    );
    assert_eq!(api.toml(), before);
    let (status, _) = api.post("/servers/nosuch/delete", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A server nothing names goes, with its password file.
    api.submission_server("old", TYPED_SECRET).await;
    let file = api.secrets().join("old.password");
    assert!(file.exists());
    let resp = http()
        .delete(format!("{}/api/v1/servers/old", base(&api.r)))
        .header("cookie", &api.cookie)
        .header("x-csrf-token", &api.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(!api.toml().contains("name = \"old\""));
    assert!(!file.exists(), "its password file went with it");
    assert!(api.r.relay.live.config().upstream("old").is_none());
}

#[tokio::test]
async fn set_as_default_moves_the_star_to_the_server_chosen() {
    let api = Api::new().await;
    let (status, v) = api.post("/servers/spare/default", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["server"]["default"], true);
    let live = api.r.relay.live.config();
    assert!(live.upstream("spare").unwrap().default);
    assert!(!live.upstream("harness").unwrap().default);
    let toml = api.toml();
    assert!(
        toml.contains("default = false") && toml.contains("default = true"),
        "{toml}"
    );
    let (_, page) = get(&api.r, &api.cookie, "/servers").await;
    let star_row = page.split("<tr").find(|row| row.contains('★')).unwrap();
    assert!(star_row.contains("data-server=\"spare\""), "{star_row}");
}

#[tokio::test]
async fn the_export_is_csv_or_json_and_a_formula_in_a_field_is_defused() {
    let api = Api::new().await;
    let (status, v) = api
        .post(
            "/servers",
            json!({"name": "xl", "host": "127.0.0.1", "port": 2587, "conn": "starttls",
                   "auth": "login", "username": "=cmd|' /C calc'!A0", "password": TYPED_SECRET}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let resp = http()
        .get(format!("{}/api/v1/servers/export.csv", base(&api.r)))
        .header("cookie", &api.cookie)
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let csv = resp.text().await.unwrap();
    assert!(csv.starts_with("name,host,port,auth,security"), "{csv}");
    assert!(
        csv.contains(",'=cmd|' /C calc'!A0,"),
        "the formula is defused: {csv}"
    );
    assert!(!csv.contains(",=cmd"), "{csv}");
    assert!(!csv.contains(FILE_SECRET));
    let (status, text) = api.get("/servers/export.json").await;
    assert_eq!(status, StatusCode::OK);
    let rows: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 3, "{rows}");
    assert_eq!(rows[0]["name"], "harness");
}

#[tokio::test]
async fn presets_list_the_fields_they_fill_and_what_to_type_as_the_password() {
    let api = Api::new().await;
    let (status, text) = api.get("/presets?lang=fr").await;
    assert_eq!(status, StatusCode::OK);
    let list: Value = serde_json::from_str(&text).unwrap();
    let o365 = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "office365")
        .unwrap();
    assert_eq!(o365["host"], "smtp.office365.com");
    assert_eq!(o365["port"], 587);
    assert_eq!(o365["conn"], "starttls");
    assert_eq!(o365["auth"], "login");
    assert!(
        o365["advice"]
            .as_str()
            .unwrap()
            .contains("boîte aux lettres"),
        "{o365}"
    );
    for name in ["gmail", "infomaniak", "bluewin"] {
        assert!(
            list.as_array().unwrap().iter().any(|p| p["name"] == name),
            "{name}"
        );
    }
}

#[tokio::test]
async fn hostile_names_are_refused_and_never_reach_the_secrets_directory() {
    let api = Api::new().await;
    let before = api.toml();
    for name in [
        "../../etc/cron.d/x",
        "..",
        "<script>alert(1)</script>",
        "bad\u{1b}[31mname",
        "line\nbreak",
        "a/b",
    ] {
        let (status, v) = api
            .post(
                "/servers",
                json!({"name": name, "host": "127.0.0.1", "port": 2587,
                       "username": "u@x.ch", "password": TYPED_SECRET}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name:?}: {v}");
        assert_eq!(v["field"], "name", "{name:?}: {v}");
    }
    let (status, v) = api
        .post("/servers/harness", json!({"password": "two\nlines"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["field"], "password");
    assert_eq!(api.toml(), before);
    assert!(!api.secrets().exists(), "no password file was written");
    // A traversal in the path names no server.
    let (status, _) = api.get("/servers/..%2F..%2Fetc").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A value with markup is shown escaped in the page.
    api.post("/servers/spare", json!({"username": "<b>boss</b>@acme.ch"}))
        .await;
    let (_, page) = get(&api.r, &api.cookie, "/servers").await;
    assert!(!page.contains("<b>boss</b>"), "raw markup in the page");
    assert!(page.contains("&lt;b&gt;boss&lt;/b&gt;@acme.ch"), "{page}");
}

#[tokio::test]
async fn no_page_or_answer_holds_a_configured_or_typed_password() {
    let api = Api::new().await;
    api.submission_server("sub", TYPED_SECRET).await;
    for path in [
        "/servers",
        "/servers/new",
        "/servers/sub/edit",
        "/servers/spare/edit",
        "/servers/sub/test",
        "/api/v1/servers",
        "/api/v1/servers/sub",
        "/api/v1/servers/spare",
        "/api/v1/servers/export.csv",
        "/api/v1/servers/export.json",
        "/api/v1/upstreams",
    ] {
        let (status, body) = get(&api.r, &api.cookie, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(
            !body.contains(TYPED_SECRET),
            "{path} shows the typed password"
        );
        assert!(
            !body.contains(FILE_SECRET),
            "{path} shows the file's password"
        );
    }
    let (_, edit) = get(&api.r, &api.cookie, "/servers/sub/edit").await;
    assert!(
        edit.contains("id=\"password-set\""),
        "the form says a password is set"
    );
    assert!(
        edit.contains("name=\"password\" type=\"password\" value=\"\""),
        "{edit}"
    );
}

#[tokio::test]
async fn a_change_needs_a_login_and_its_csrf_token() {
    let api = Api::new().await;
    let anon = http()
        .get(format!("{}/api/v1/servers", base(&api.r)))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    for path in [
        "/servers",
        "/servers/harness/delete",
        "/servers/spare/default",
        "/servers/harness/test",
    ] {
        let forged = http()
            .post(format!("{}/api/v1{path}", base(&api.r)))
            .header("cookie", &api.cookie)
            .json(&json!({"name": "x", "host": "127.0.0.1"}))
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let form = http()
        .post(format!("{}/servers/harness/delete", base(&api.r)))
        .header("cookie", &api.cookie)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_form_shows_each_error_beside_its_field_and_a_good_one_saves() {
    let api = Api::new().await;
    let post = |fields: Vec<(&'static str, String)>| {
        let mut all = vec![("csrf", api.csrf.clone())];
        all.extend(fields);
        http()
            .post(format!("{}/servers/new", base(&api.r)))
            .header("cookie", &api.cookie)
            .header("accept-language", "fr")
            .form(&all)
            .send()
    };
    let resp = post(vec![
        ("name", "web".into()),
        ("preset", "infomaniak".into()),
        ("port", "99999".into()),
        ("password", TYPED_SECRET.into()),
    ])
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = resp.text().await.unwrap();
    assert!(page.contains("data-field=\"port\""), "{page}");
    assert!(
        page.contains("un port est un nombre de 1 à 65535"),
        "{page}"
    );
    assert!(
        !page.contains(TYPED_SECRET),
        "the password is not sent back"
    );
    assert!(page.contains("value=\"web\""), "the rest as typed");
    assert!(!api.toml().contains("\"web\""));
    let resp = post(vec![
        ("name", "web".into()),
        ("preset", "infomaniak".into()),
        ("host", "mail.infomaniak.com".into()),
        ("port", "587".into()),
        ("conn", "starttls".into()),
        ("auth", "login".into()),
        ("username", "pay@acme.ch".into()),
        ("password", TYPED_SECRET.into()),
    ])
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/servers?saved=1");
    let toml = api.toml();
    assert!(
        toml.contains("name = \"web\"\npreset = \"infomaniak\"\nusername"),
        "only what differs from the preset: {toml}"
    );
}

#[tokio::test]
async fn a_renamed_server_with_a_new_password_keeps_a_single_password_file() {
    let api = Api::new().await;
    api.submission_server("sub", "first-password").await;
    let (status, v) = api
        .post(
            "/servers/sub",
            json!({"name": "sub2", "password": Harness::get().var("HARNESS_SASL_PASS")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["server"]["name"], "sub2");
    let new = api.secrets().join("sub2.password");
    assert_eq!(
        std::fs::read_to_string(&new).unwrap().trim_end(),
        Harness::get().var("HARNESS_SASL_PASS")
    );
    assert!(
        !api.secrets().join("sub.password").exists(),
        "the old file went"
    );
    let toml = api.toml();
    assert!(
        toml.contains(&format!("password_file = \"{}\"", new.display())),
        "{toml}"
    );
    assert!(!toml.contains("first-password"), "{toml}");
    // The new password is the one the relay uses: the Tester logs in with it.
    let (_, v) = api.post("/servers/sub2/test", json!({})).await;
    assert_eq!(v["verdict"]["code"], "ok", "{v}");
}
