//! `[[client]]` accounts: who may log in to the relay (AUTH PLAIN/LOGIN from the LAN), with an
//! argon2id hash of the password. A plaintext password in the file is refused. Verifying a
//! login is CPU-heavy by design and happens off the async workers (see `session`).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawClient {
    pub name: String,
    pub password_hash: Option<String>,
    /// Only to say clearly that it is not accepted.
    pub password: Option<String>,
    /// Tighter than `[server]` for this account: recipients per message, message size.
    pub max_recipients: Option<usize>,
    pub max_message_size: Option<super::values::ByteSize>,
}

/// One client account. `Debug` never shows the hash.
#[derive(Clone)]
pub struct ClientAccount {
    pub name: String,
    hash: String,
    pub max_recipients: Option<usize>,
    pub max_message_size: Option<u64>,
}

impl std::fmt::Debug for ClientAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClientAccount({}, hash redacted)", self.name)
    }
}

impl RawClient {
    /// The account, or (key, message) naming what is wrong.
    pub fn validate(self) -> Result<ClientAccount, (&'static str, String)> {
        if self.password.is_some() {
            return Err((
                "password",
                format!(
                    "client \"{}\": plaintext passwords are refused; put password_hash = \"$argon2id$...\" (`smarthost passwd` prints one)",
                    self.name
                ),
            ));
        }
        let hash = self.password_hash.ok_or((
            "password_hash",
            format!(
                "client \"{}\" needs password_hash (`smarthost passwd` prints one)",
                self.name
            ),
        ))?;
        match PasswordHash::new(&hash) {
            Ok(h) if h.algorithm.as_str() == "argon2id" => {}
            _ => {
                return Err((
                    "password_hash",
                    format!(
                        "client \"{}\": password_hash is not an argon2id hash",
                        self.name
                    ),
                ));
            }
        }
        Ok(ClientAccount {
            name: self.name,
            hash,
            max_recipients: self.max_recipients,
            max_message_size: self.max_message_size.map(|b| b.0),
        })
    }
}

impl ClientAccount {
    /// Checks a password; slow on purpose (argon2id).
    pub fn verify(&self, password: &str) -> bool {
        verify_password(&self.hash, password)
    }
}

/// Whether `password` matches the argon2id `hash` (PHC form); slow on purpose.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// The argon2id hash of `password` in PHC form, for `password_hash`.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_from_passwd_verifies_only_its_password() {
        let account = RawClient {
            name: "payroll".into(),
            password_hash: Some(hash_password("correct horse")),
            password: None,
            max_recipients: None,
            max_message_size: None,
        }
        .validate()
        .unwrap();
        assert!(account.verify("correct horse"));
        assert!(!account.verify("correct horse "));
        assert!(!format!("{account:?}").contains("argon2"));
    }

    #[test]
    fn a_plaintext_password_is_refused() {
        let e = RawClient {
            name: "x".into(),
            password_hash: None,
            password: Some("p".into()),
            max_recipients: None,
            max_message_size: None,
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.0, "password");
    }
}
