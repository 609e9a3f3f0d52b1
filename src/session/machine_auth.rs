//! The AUTH exchange of the machine (RFC 4954): the commands and response lines that lead to an
//! [`Action::Authenticate`], and the reply once the driver has checked the credentials. Split
//! from `machine.rs` for size; same contract: no I/O, no password checking.

use super::login::{self, AuthOffer, Login, Step};
use super::reply::{self, Reply};
use super::{Action, Machine, Phase};

impl Machine {
    /// The driver checked the credentials of `Authenticate`: the account name, or `None`.
    pub fn authenticated(&mut self, account: Option<String>) -> Reply {
        self.phase = Phase::Command;
        match account {
            Some(name) => {
                self.user = Some(name);
                reply::auth_ok()
            }
            None => {
                self.errors += 1;
                reply::auth_failed()
            }
        }
    }

    /// The SASL mechanisms offered, as the EHLO line lists them.
    pub(super) fn mechanisms(&self) -> &'static str {
        if self.cram_challenge.is_some() {
            "PLAIN LOGIN CRAM-MD5"
        } else {
            "PLAIN LOGIN"
        }
    }

    /// The driver refused the credentials of `Authenticate` unchecked (a paused name): this
    /// reply, and the session goes on.
    pub fn auth_refused(&mut self, r: Reply) -> Reply {
        self.phase = Phase::Command;
        r
    }

    pub(super) fn auth_available(&self) -> bool {
        match self.auth_offer {
            AuthOffer::Off => false,
            AuthOffer::TlsOnly => self.tls,
            AuthOffer::AlsoPlaintext => true,
        }
    }

    pub(super) fn auth(&mut self, mechanism: u64, initial: &str, out: &mut Vec<Action>) {
        if self.auth_offer == AuthOffer::Off {
            return self.error(reply::not_implemented("AUTH"), out);
        }
        if self.user.is_some() || self.tx.is_some() {
            return self.error(reply::auth_bad_sequence(), out);
        }
        if !self.auth_available() {
            // RFC 4954: a mechanism that needs encryption, asked for without it.
            return self.error(reply::encryption_required(), out);
        }
        let initial = initial.trim();
        match mechanism {
            smtp_proto::AUTH_PLAIN if initial.is_empty() => {
                self.phase = Phase::AuthResponse(Step::Plain);
                out.push(Action::Reply(reply::auth_challenge("")));
            }
            smtp_proto::AUTH_PLAIN => self.auth_response(Step::Plain, initial, out),
            smtp_proto::AUTH_LOGIN if initial.is_empty() => {
                self.phase = Phase::AuthResponse(Step::LoginUser);
                out.push(Action::Reply(reply::auth_challenge("VXNlcm5hbWU6")));
            }
            smtp_proto::AUTH_LOGIN => self.auth_response(Step::LoginUser, initial, out),
            smtp_proto::AUTH_CRAM_MD5 if initial.is_empty() => match &self.cram_challenge {
                Some(challenge) => {
                    let challenge = login::encode(challenge);
                    self.phase = Phase::AuthResponse(Step::CramMd5);
                    out.push(Action::Reply(reply::auth_challenge(&challenge)));
                }
                None => self.error(reply::auth_mechanism_unknown_of(self.mechanisms()), out),
            },
            _ => self.error(reply::auth_mechanism_unknown_of(self.mechanisms()), out),
        }
    }

    pub(super) fn auth_response(&mut self, step: Step, line: &str, out: &mut Vec<Action>) {
        self.phase = Phase::Command;
        let line = line.trim();
        if line == "*" {
            return self.error(reply::auth_cancelled(), out);
        }
        // "=" is an empty initial response (RFC 4954).
        let text = if line == "=" {
            Some(String::new())
        } else {
            login::decode(line)
        };
        let Some(text) = text else {
            return self.error(reply::auth_bad_base64(), out);
        };
        match step {
            Step::Plain => match login::plain(&text) {
                Some(l) => self.authenticate(l, out),
                None => self.error(reply::auth_failed(), out),
            },
            Step::LoginUser => {
                self.phase = Phase::AuthResponse(Step::LoginPassword(text));
                out.push(Action::Reply(reply::auth_challenge("UGFzc3dvcmQ6")));
            }
            // "name digest": the digest cannot be checked without the plaintext password, and
            // CRAM-MD5 is only offered when any login is accepted; the digest is dropped.
            Step::CramMd5 => match login::cram_md5_name(&text) {
                Some(username) => self.authenticate(
                    Login {
                        username,
                        password: String::new(),
                    },
                    out,
                ),
                None => self.error(reply::auth_failed(), out),
            },
            Step::LoginPassword(username) => self.authenticate(
                Login {
                    username,
                    password: text,
                },
                out,
            ),
        }
    }

    fn authenticate(&mut self, l: Login, out: &mut Vec<Action>) {
        self.phase = Phase::AwaitingAuth;
        out.push(Action::Authenticate(l));
    }
}
