//! `smarthost oauth2 login UPSTREAM`: the device authorization grant (RFC 8628) in the terminal.
//! Prints where to go and the code to type, polls the token endpoint at the pace the provider
//! asks, and stores the refresh token it gets (mode 0600) where the relay will look for it.

use std::time::{Duration, Instant};

use serde::Deserialize;

use super::http::{self, Failure, Grant, TokenResponse};
use super::store;
use crate::config::{Config, Transport};

#[derive(Deserialize)]
struct DeviceResponse {
    device_code: String,
    user_code: String,
    #[serde(alias = "verification_url")]
    verification_uri: String,
    #[serde(default)]
    verification_uri_complete: Option<String>,
    #[serde(default = "default_interval")]
    interval: u64,
    #[serde(default = "default_expires")]
    expires_in: u64,
}

fn default_interval() -> u64 {
    5
}

fn default_expires() -> u64 {
    900
}

/// Runs the device flow for `upstream`; `say` gets each line meant for the person at the
/// terminal. Returns the path the refresh token was saved to.
pub async fn login(
    config: &Config,
    upstream: &str,
    say: &mut dyn FnMut(&str),
) -> Result<std::path::PathBuf, String> {
    let u = config
        .upstream(upstream)
        .ok_or_else(|| format!("no upstream named {upstream}"))?;
    let Transport::Smtp(s) = &u.transport else {
        return Err(format!("{upstream} is not an SMTP upstream"));
    };
    let cfg = s
        .oauth2
        .as_ref()
        .ok_or_else(|| format!("upstream {upstream} has no [upstream.oauth2] section"))?;
    if !cfg.flow.uses_refresh_token() {
        return Err(format!(
            "upstream {upstream} uses flow = \"client_credentials\": there is nothing to log in to, the app's secret is enough"
        ));
    }
    let device_url = cfg.device_code_url.as_deref().ok_or_else(|| {
        format!("upstream {upstream} has no device_code_url (set it, or tenant = \"...\")")
    })?;
    let client = http::client()?;
    let mut form: Vec<(&str, &str)> = vec![("client_id", &cfg.client_id), ("scope", &cfg.scope)];
    let secret = cfg
        .client_secret
        .as_ref()
        .map(|s| s.reveal().map_err(|e| e.to_string()))
        .transpose()?;
    if let Some(s) = &secret {
        form.push(("client_secret", s));
    }
    let d: DeviceResponse = http::post(&client, device_url, &form)
        .await
        .map_err(|e| describe(&e))?;
    say(&format!(
        "To let smarthost send as {} through {upstream}, open",
        s.credentials
            .as_ref()
            .map(|c| c.username.as_str())
            .unwrap_or("the mailbox")
    ));
    say(&format!("    {}", d.verification_uri));
    say(&format!("and enter the code {}", d.user_code));
    if let Some(c) = &d.verification_uri_complete {
        say(&format!("(or open {c} directly)"));
    }
    say("Waiting for you to sign in...");
    let deadline = Instant::now() + Duration::from_secs(d.expires_in);
    let mut interval = Duration::from_secs(d.interval.max(1));
    let token: TokenResponse = loop {
        tokio::time::sleep(interval).await;
        if Instant::now() > deadline {
            return Err(
                "the code expired before the sign-in was finished: run the command again".into(),
            );
        }
        match http::token(&client, cfg, &Grant::DeviceCode(d.device_code.clone())).await {
            Ok(t) => break t,
            Err(Failure::Refused { error, .. }) if error == "authorization_pending" => continue,
            Err(Failure::Refused { error, .. }) if error == "slow_down" => {
                // RFC 8628 3.5: five seconds more for every slow_down.
                interval += Duration::from_secs(5);
            }
            Err(e) => return Err(describe(&e)),
        }
    };
    let Some(refresh) = token.refresh_token else {
        return Err("the provider gave no refresh token: add offline_access to the scope".into());
    };
    let path = cfg
        .refresh_token_file
        .clone()
        .unwrap_or_else(|| store::default_path(&config.spool.dir, upstream));
    let mut state = store::load(&path).unwrap_or_default();
    state.refresh_token = Some(refresh);
    state.last_error = None;
    store::save(&path, &state).map_err(|e| format!("cannot save {}: {e}", path.display()))?;
    say(&format!(
        "Signed in. The refresh token is saved in {} (readable by this user only); the running relay uses it for its next delivery.",
        path.display()
    ));
    Ok(path)
}

fn describe(e: &Failure) -> String {
    match e {
        Failure::Refused { error, description } => match description {
            Some(d) => format!("the provider refused: {error} ({d})"),
            None => format!("the provider refused: {error}"),
        },
        Failure::Transport(t) => t.clone(),
    }
}
