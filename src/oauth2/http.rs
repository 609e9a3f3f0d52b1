//! The token endpoint over HTTP (RFC 6749 section 4.4 and 6, RFC 8628 section 3.4): form POST in,
//! JSON out. Timeouts on every request; error bodies are read for their `error` code only.

use std::time::Duration;

use serde::Deserialize;

use crate::config::OAuth2Config;

pub fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("smarthost/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot set up HTTP: {e}"))
}

pub enum Grant {
    ClientCredentials,
    RefreshToken(String),
    DeviceCode(String),
}

#[derive(Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(default = "default_expiry")]
    pub expires_in: u64,
    #[serde(default)]
    pub refresh_token: Option<String>,
}

fn default_expiry() -> u64 {
    3600
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

pub enum Failure {
    /// The endpoint answered with an OAuth2 error code.
    Refused {
        error: String,
        description: Option<String>,
    },
    /// No answer, or not one we understand.
    Transport(String),
}

pub async fn token(
    http: &reqwest::Client,
    cfg: &OAuth2Config,
    grant: &Grant,
) -> Result<TokenResponse, Failure> {
    let secret = match &cfg.client_secret {
        Some(s) => Some(
            s.reveal()
                .map_err(|e| Failure::Transport(format!("client secret: {e}")))?,
        ),
        None => None,
    };
    let assertion = match &cfg.client_certificate {
        Some(c) => Some(
            super::assertion::sign(cfg, c, chrono::Utc::now().timestamp())
                .map_err(|e| Failure::Transport(e.to_string()))?,
        ),
        None => None,
    };
    let mut form: Vec<(&str, &str)> = vec![("client_id", &cfg.client_id)];
    if let Some(s) = &secret {
        form.push(("client_secret", s));
    }
    if let Some(a) = &assertion {
        form.push(("client_assertion_type", super::assertion::JWT_BEARER));
        form.push(("client_assertion", a));
    }
    match grant {
        Grant::ClientCredentials => {
            form.push(("grant_type", "client_credentials"));
            form.push(("scope", &cfg.scope));
        }
        Grant::RefreshToken(rt) => {
            form.push(("grant_type", "refresh_token"));
            form.push(("refresh_token", rt));
            form.push(("scope", &cfg.scope));
        }
        Grant::DeviceCode(code) => {
            form.push(("grant_type", "urn:ietf:params:oauth:grant-type:device_code"));
            form.push(("device_code", code));
        }
    }
    post(http, &cfg.token_url, &form).await
}

/// POSTs `form` and reads a JSON `T`, or the OAuth2 error.
pub async fn post<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> Result<T, Failure> {
    // The error text of reqwest can hold the URL, never the form: no secret in it.
    let resp = http
        .post(url)
        .header("Accept", "application/json")
        .form(form)
        .send()
        .await
        .map_err(|e| Failure::Transport(format!("{url}: {}", without_url(&e))))?;
    let status = resp.status();
    let body = resp
        .bytes()
        .await
        .map_err(|e| Failure::Transport(format!("{url}: {}", without_url(&e))))?;
    if status.is_success() {
        return serde_json::from_slice(&body).map_err(|e| {
            Failure::Transport(format!("{url} answered {status} with unexpected JSON: {e}"))
        });
    }
    match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(e) => Err(Failure::Refused {
            error: e.error,
            description: e
                .error_description
                .map(|d| d.lines().next().unwrap_or("").to_string()),
        }),
        Err(_) => Err(Failure::Transport(format!("{url} answered {status}"))),
    }
}

/// The innermost cause (e.g. "Connection refused (os error 111)"): reqwest's own text only
/// repeats the URL.
fn without_url(e: &reqwest::Error) -> String {
    let mut inner: &dyn std::error::Error = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    let cause = inner.to_string();
    if e.is_timeout() {
        "no answer in time".into()
    } else if e.is_connect() {
        format!("cannot connect: {cause}")
    } else {
        cause
    }
}
