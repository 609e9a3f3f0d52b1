//! "Why doesn't my mail go out?" in the admin's words: turns a failed connection step or a
//! refusal into a [`Problem`] and explains it with the fix, in English, French or German.
//! Pure: it reads errors and replies, never the network. Used by `send-test`.

use crate::config::ConnMode;
use crate::throttle::signal::{self, Signal};
use crate::upstream::client::UpReply;
use crate::upstream::error::UpstreamError;

/// What went wrong, as an admin would name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Implicit TLS spoken to a port that answers in plain text (587, 25).
    ImplicitTlsOnPlainPort,
    /// Plain text or STARTTLS on a port that waits for a TLS handshake (465).
    PlainOnImplicitTlsPort,
    CertificateName,
    UnknownCa,
    CertificateExpired,
    TlsFailed,
    StartTlsRequired,
    StartTlsNotOffered,
    CredentialsInClear,
    MechanismNotOffered,
    SmtpAuthDisabled,
    BasicAuthDisabled,
    AppPasswordRequired,
    BadCredentials,
    AuthRequired,
    SendAsDenied,
    QuotaExceeded,
    Throttled,
    RelayDenied,
    RecipientRefused,
    DnsFailed,
    ConnectionRefused,
    ConnectTimeout,
    /// The server refused an OAuth2 access token (XOAUTH2/OAUTHBEARER).
    TokenRefused,
    /// The OAuth2 grant is gone or was never obtained (revoked, expired, no refresh token).
    GrantMissing,
    /// The token endpoint refused the app itself (client id, secret, permission).
    AppRefused,
    /// The token endpoint could not be reached.
    TokenEndpointDown,
    Other,
}

impl Problem {
    /// A stable name for scripts and tests.
    pub fn code(self) -> &'static str {
        match self {
            Problem::ImplicitTlsOnPlainPort => "implicit_tls_on_plain_port",
            Problem::PlainOnImplicitTlsPort => "plain_on_implicit_tls_port",
            Problem::CertificateName => "certificate_name",
            Problem::UnknownCa => "unknown_ca",
            Problem::CertificateExpired => "certificate_expired",
            Problem::TlsFailed => "tls_failed",
            Problem::StartTlsRequired => "starttls_required",
            Problem::StartTlsNotOffered => "starttls_not_offered",
            Problem::CredentialsInClear => "credentials_in_clear",
            Problem::MechanismNotOffered => "mechanism_not_offered",
            Problem::SmtpAuthDisabled => "smtp_auth_disabled",
            Problem::BasicAuthDisabled => "basic_auth_disabled",
            Problem::AppPasswordRequired => "app_password_required",
            Problem::BadCredentials => "bad_credentials",
            Problem::AuthRequired => "auth_required",
            Problem::SendAsDenied => "send_as_denied",
            Problem::QuotaExceeded => "quota_exceeded",
            Problem::Throttled => "throttled",
            Problem::RelayDenied => "relay_denied",
            Problem::RecipientRefused => "recipient_refused",
            Problem::DnsFailed => "dns_failed",
            Problem::ConnectionRefused => "connection_refused",
            Problem::ConnectTimeout => "connect_timeout",
            Problem::TokenRefused => "token_refused",
            Problem::GrantMissing => "grant_missing",
            Problem::AppRefused => "app_refused",
            Problem::TokenEndpointDown => "token_endpoint_down",
            Problem::Other => "other",
        }
    }
}

/// Where the connection was going and how.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub conn: ConnMode,
    /// Logs in with an OAuth2 token rather than a password.
    pub oauth: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Fr,
    De,
}

impl std::str::FromStr for Lang {
    type Err = String;
    fn from_str(s: &str) -> Result<Lang, String> {
        match s.to_ascii_lowercase().get(..2) {
            Some("en") => Ok(Lang::En),
            Some("fr") => Ok(Lang::Fr),
            Some("de") => Ok(Lang::De),
            _ => Err(format!("unknown language `{s}` (en, fr or de)")),
        }
    }
}

/// A failed step of connecting, securing or logging in.
pub fn from_error(e: &UpstreamError, t: &Target) -> Problem {
    match e {
        UpstreamError::Resolve { .. } | UpstreamError::Timeout { stage: "DNS" } => {
            Problem::DnsFailed
        }
        UpstreamError::Connect { source, .. } => match source.kind() {
            std::io::ErrorKind::ConnectionRefused => Problem::ConnectionRefused,
            std::io::ErrorKind::TimedOut => Problem::ConnectTimeout,
            _ => Problem::ConnectionRefused,
        },
        UpstreamError::Timeout { stage: "connect" } => Problem::ConnectTimeout,
        // Connected, and the server says nothing: it waits for our TLS handshake.
        UpstreamError::Timeout { stage: "greeting" } if t.conn != ConnMode::SslTls => {
            Problem::PlainOnImplicitTlsPort
        }
        UpstreamError::Tls(msg) => tls_problem(msg, t),
        UpstreamError::Io {
            stage: "TLS handshake",
            ..
        }
        | UpstreamError::Closed {
            stage: "TLS handshake",
        } if t.conn == ConnMode::SslTls => Problem::ImplicitTlsOnPlainPort,
        UpstreamError::StartTlsNotOffered => Problem::StartTlsNotOffered,
        UpstreamError::CredentialsInClear => Problem::CredentialsInClear,
        UpstreamError::MechanismNotOffered(_) => Problem::MechanismNotOffered,
        UpstreamError::AuthFailed(r) => match from_reply("AUTH", r) {
            Problem::BadCredentials | Problem::Other if t.oauth => Problem::TokenRefused,
            p => p,
        },
        UpstreamError::OAuth2(o) => {
            use crate::oauth2::OAuthError as O;
            match o {
                O::GrantRefused { .. } | O::NotLoggedIn { .. } => Problem::GrantMissing,
                O::ClientRefused { .. } => Problem::AppRefused,
                O::Unavailable { .. } | O::Store { .. } => Problem::TokenEndpointDown,
            }
        }
        UpstreamError::Rejected { stage, reply } => from_reply(stage, reply),
        _ => Problem::Other,
    }
}

fn tls_problem(msg: &str, t: &Target) -> Problem {
    if msg.contains("NotValidForName") || msg.contains("not valid for name") {
        Problem::CertificateName
    } else if msg.contains("UnknownIssuer") || msg.contains("BadSignature") {
        Problem::UnknownCa
    } else if msg.contains("Expired") {
        Problem::CertificateExpired
    } else if t.conn == ConnMode::SslTls
        && (msg.contains("corrupt message") || msg.contains("InvalidContentType"))
    {
        // A plaintext "220 ..." read as a TLS record.
        Problem::ImplicitTlsOnPlainPort
    } else {
        Problem::TlsFailed
    }
}

/// A refusal at some stage (AUTH, MAIL, RCPT, DATA, end of DATA).
pub fn from_reply(stage: &str, r: &UpReply) -> Problem {
    let text = r.text.to_ascii_lowercase();
    if text.contains("5.7.139") || text.contains("smtpclientauthentication is disabled") {
        return Problem::SmtpAuthDisabled;
    }
    if text.contains("5.7.30") || text.contains("basic authentication is not supported") {
        return Problem::BasicAuthDisabled;
    }
    if text.contains("5.7.9") || text.contains("application-specific password") {
        return Problem::AppPasswordRequired;
    }
    if text.contains("starttls") && r.code == 530 {
        return Problem::StartTlsRequired;
    }
    if text.contains("5.7.60")
        || text.contains("sendasdenied")
        || text.contains("send as this sender")
    {
        return Problem::SendAsDenied;
    }
    match signal::classify(&r.text) {
        Some(Signal::QuotaExceeded) => return Problem::QuotaExceeded,
        Some(Signal::Throttled | Signal::Concurrency) => return Problem::Throttled,
        None => {}
    }
    if stage == "AUTH" && (r.code == 535 || r.code == 534 || text.contains("5.7.8")) {
        return Problem::BadCredentials;
    }
    if r.code == 530 || text.contains("5.7.57") || text.contains("authentication required") {
        return Problem::AuthRequired;
    }
    if text.contains("relay access denied")
        || text.contains("relaying denied")
        || text.contains("5.7.1 relay")
    {
        return Problem::RelayDenied;
    }
    if stage == "RCPT" {
        return Problem::RecipientRefused;
    }
    Problem::Other
}

/// One sentence on what is wrong and one on what to do, in `lang`.
pub fn explain(p: Problem, t: &Target, lang: Lang) -> (String, String) {
    let hp = format!("{}:{}", t.host, t.port);
    let port = t.port;
    let s = |en: &str, fr: &str, de: &str| {
        match lang {
            Lang::En => en,
            Lang::Fr => fr,
            Lang::De => de,
        }
        .replace("{hp}", &hp)
        .replace("{port}", &port.to_string())
    };
    let (what, fix) = match p {
        Problem::ImplicitTlsOnPlainPort => (
            s(
                "port {port} answers in plain text: it expects STARTTLS, not implicit TLS (SSL)",
                "le port {port} répond en clair : il attend STARTTLS, pas TLS implicite (SSL)",
                "Port {port} antwortet im Klartext: er erwartet STARTTLS, nicht implizites TLS (SSL)",
            ),
            s(
                "set conn = \"starttls\" (or use port 465 for implicit TLS)",
                "mettez conn = \"starttls\" (ou le port 465 pour TLS implicite)",
                "setzen Sie conn = \"starttls\" (oder Port 465 für implizites TLS)",
            ),
        ),
        Problem::PlainOnImplicitTlsPort => (
            s(
                "{hp} accepted the connection but said nothing: the port waits for implicit TLS (SSL, usually 465)",
                "{hp} accepte la connexion mais ne dit rien : le port attend du TLS implicite (SSL, en général 465)",
                "{hp} nimmt die Verbindung an, schweigt aber: der Port erwartet implizites TLS (SSL, meist 465)",
            ),
            s(
                "set conn = \"ssl_tls\" (or \"auto\"), or use port 587 with conn = \"starttls\"",
                "mettez conn = \"ssl_tls\" (ou \"auto\"), ou le port 587 avec conn = \"starttls\"",
                "setzen Sie conn = \"ssl_tls\" (oder \"auto\"), oder Port 587 mit conn = \"starttls\"",
            ),
        ),
        Problem::CertificateName => (
            s(
                "the server's certificate is not issued for the name {hp} uses",
                "le certificat du serveur n'est pas établi pour le nom utilisé ({hp})",
                "das Zertifikat des Servers ist nicht für den verwendeten Namen ausgestellt ({hp})",
            ),
            s(
                "use the host name the provider documents (the one in its certificate), not an IP address or alias",
                "utilisez le nom d'hôte documenté par le fournisseur (celui du certificat), pas une adresse IP ni un alias",
                "verwenden Sie den vom Anbieter dokumentierten Hostnamen (den im Zertifikat), keine IP-Adresse und keinen Alias",
            ),
        ),
        Problem::UnknownCa => (
            s(
                "the server's certificate is signed by an authority this machine does not trust",
                "le certificat du serveur est signé par une autorité que cette machine ne connaît pas",
                "das Zertifikat des Servers ist von einer Stelle signiert, der dieser Rechner nicht vertraut",
            ),
            s(
                "install the issuing CA and set ca_file = \"...\" in the upstream (internal servers), or check that nothing intercepts TLS",
                "installez l'autorité émettrice et indiquez ca_file = \"...\" (serveurs internes), ou vérifiez que rien n'intercepte le TLS",
                "hinterlegen Sie die ausstellende CA mit ca_file = \"...\" (interne Server), oder prüfen Sie, ob TLS abgefangen wird",
            ),
        ),
        Problem::CertificateExpired => (
            s(
                "the server's certificate has expired (or this machine's clock is wrong)",
                "le certificat du serveur a expiré (ou l'horloge de cette machine est fausse)",
                "das Zertifikat des Servers ist abgelaufen (oder die Uhr dieses Rechners geht falsch)",
            ),
            s(
                "check the date and time here; otherwise the server's operator must renew the certificate",
                "vérifiez la date et l'heure ici ; sinon l'exploitant du serveur doit renouveler le certificat",
                "prüfen Sie Datum und Uhrzeit; sonst muss der Betreiber das Zertifikat erneuern",
            ),
        ),
        Problem::TlsFailed => (
            s(
                "the TLS handshake with {hp} failed",
                "la négociation TLS avec {hp} a échoué",
                "der TLS-Handshake mit {hp} ist fehlgeschlagen",
            ),
            s(
                "check conn and port against the provider's settings; old servers may need a newer TLS version",
                "comparez conn et port aux réglages du fournisseur ; un vieux serveur peut nécessiter une version TLS plus récente",
                "vergleichen Sie conn und Port mit den Angaben des Anbieters; alte Server brauchen evtl. eine neuere TLS-Version",
            ),
        ),
        Problem::StartTlsRequired => (
            s(
                "the server requires encryption (STARTTLS) before anything else",
                "le serveur exige le chiffrement (STARTTLS) avant toute chose",
                "der Server verlangt zuerst Verschlüsselung (STARTTLS)",
            ),
            s(
                "set conn = \"starttls\" (or \"auto\")",
                "mettez conn = \"starttls\" (ou \"auto\")",
                "setzen Sie conn = \"starttls\" (oder \"auto\")",
            ),
        ),
        Problem::StartTlsNotOffered => (
            s(
                "conn = \"starttls\" but {hp} does not offer STARTTLS",
                "conn = \"starttls\" mais {hp} ne propose pas STARTTLS",
                "conn = \"starttls\", aber {hp} bietet kein STARTTLS an",
            ),
            s(
                "use the provider's submission port (587, or 465 with conn = \"ssl_tls\")",
                "utilisez le port de soumission du fournisseur (587, ou 465 avec conn = \"ssl_tls\")",
                "verwenden Sie den Submission-Port des Anbieters (587, oder 465 mit conn = \"ssl_tls\")",
            ),
        ),
        Problem::CredentialsInClear => (
            s(
                "the connection is not encrypted, so the password was not sent",
                "la connexion n'est pas chiffrée : le mot de passe n'a pas été envoyé",
                "die Verbindung ist unverschlüsselt, daher wurde das Passwort nicht gesendet",
            ),
            s(
                "use conn = \"starttls\" or \"ssl_tls\"; only if the server is on your own network, conn = \"plaintext\"",
                "utilisez conn = \"starttls\" ou \"ssl_tls\" ; conn = \"plaintext\" seulement pour un serveur de votre réseau",
                "verwenden Sie conn = \"starttls\" oder \"ssl_tls\"; conn = \"plaintext\" nur für Server im eigenen Netz",
            ),
        ),
        Problem::MechanismNotOffered => (
            s(
                "the server does not offer the AUTH mechanism configured",
                "le serveur ne propose pas la méthode AUTH configurée",
                "der Server bietet die eingestellte AUTH-Methode nicht an",
            ),
            s(
                "set auth = \"auto\", or one of the mechanisms listed in the EHLO reply above",
                "mettez auth = \"auto\", ou une des méthodes de la réponse EHLO ci-dessus",
                "setzen Sie auth = \"auto\" oder eine der Methoden aus der EHLO-Antwort oben",
            ),
        ),
        Problem::SmtpAuthDisabled => (
            s(
                "Office 365 has SMTP AUTH switched off for this mailbox or tenant",
                "Office 365 a désactivé SMTP AUTH pour cette boîte ou ce tenant",
                "Office 365 hat SMTP AUTH für dieses Postfach oder den Tenant deaktiviert",
            ),
            s(
                "in the Microsoft 365 admin center: Users > the mailbox > Mail > Manage email apps > tick \"Authenticated SMTP\" (and allow it for the tenant), or use auth = \"xoauth2\"",
                "dans le centre d'administration Microsoft 365 : Utilisateurs > la boîte > Courrier > Gérer les applications de messagerie > cochez « SMTP authentifié » (et autorisez-le pour le tenant), ou utilisez auth = \"xoauth2\"",
                "im Microsoft 365 Admin Center: Benutzer > Postfach > E-Mail > E-Mail-Apps verwalten > \"Authentifiziertes SMTP\" aktivieren (auch für den Tenant), oder auth = \"xoauth2\" verwenden",
            ),
        ),
        Problem::BasicAuthDisabled => (
            s(
                "the provider no longer accepts a password here (basic authentication is switched off)",
                "le fournisseur n'accepte plus de mot de passe ici (authentification de base désactivée)",
                "der Anbieter akzeptiert hier kein Passwort mehr (Basic Authentication ist abgeschaltet)",
            ),
            s(
                "use auth = \"xoauth2\" with an OAuth2 token",
                "utilisez auth = \"xoauth2\" avec un jeton OAuth2",
                "verwenden Sie auth = \"xoauth2\" mit einem OAuth2-Token",
            ),
        ),
        Problem::AppPasswordRequired => (
            s(
                "Google refuses the account password: an app password is required",
                "Google refuse le mot de passe du compte : un mot de passe d'application est requis",
                "Google lehnt das Kontopasswort ab: ein App-Passwort ist nötig",
            ),
            s(
                "turn on 2-Step Verification, create an app password (myaccount.google.com > Security > App passwords) and use it as password",
                "activez la validation en deux étapes, créez un mot de passe d'application (myaccount.google.com > Sécurité > Mots de passe des applications) et utilisez-le",
                "aktivieren Sie die Bestätigung in zwei Schritten, erstellen Sie ein App-Passwort (myaccount.google.com > Sicherheit > App-Passwörter) und verwenden Sie es",
            ),
        ),
        Problem::BadCredentials => (
            s(
                "the server refused the username or password",
                "le serveur a refusé le nom d'utilisateur ou le mot de passe",
                "der Server hat Benutzername oder Passwort abgelehnt",
            ),
            s(
                "check username (often the full e-mail address) and password; retype the password, it may have changed",
                "vérifiez l'utilisateur (souvent l'adresse complète) et le mot de passe ; ressaisissez-le, il a pu changer",
                "prüfen Sie Benutzername (oft die volle E-Mail-Adresse) und Passwort; geben Sie es neu ein, es kann sich geändert haben",
            ),
        ),
        Problem::AuthRequired => (
            s(
                "the server only accepts mail after a login",
                "le serveur n'accepte le courrier qu'après authentification",
                "der Server nimmt Mail nur nach Anmeldung an",
            ),
            s(
                "set username and a password (auth = \"auto\")",
                "indiquez username et un mot de passe (auth = \"auto\")",
                "setzen Sie username und ein Passwort (auth = \"auto\")",
            ),
        ),
        Problem::SendAsDenied => (
            s(
                "this mailbox may not send as the sender address used",
                "cette boîte n'a pas le droit d'envoyer avec l'adresse d'expéditeur utilisée",
                "dieses Postfach darf nicht mit der verwendeten Absenderadresse senden",
            ),
            s(
                "send as the mailbox's own address ([rewrite] from = \"...\") or grant it \"Send As\" for that address",
                "envoyez avec l'adresse de la boîte ([rewrite] from = \"...\") ou donnez-lui le droit « Envoyer comme » pour cette adresse",
                "senden Sie mit der eigenen Adresse des Postfachs ([rewrite] from = \"...\") oder erteilen Sie \"Senden als\" für diese Adresse",
            ),
        ),
        Problem::QuotaExceeded => (
            s(
                "the mailbox has reached its sending quota",
                "la boîte a atteint son quota d'envoi",
                "das Postfach hat sein Sendekontingent erreicht",
            ),
            s(
                "wait until the provider's window frees (up to 24 h); smarthost keeps the mail queued. Set per_day/count in [upstream.limits] (or a preset) to stay under it",
                "attendez la fin de la fenêtre du fournisseur (jusqu'à 24 h) ; smarthost garde le courrier en file. Réglez per_day/count dans [upstream.limits] (ou un preset) pour rester en dessous",
                "warten Sie, bis das Zeitfenster des Anbieters frei wird (bis 24 h); smarthost behält die Mail in der Warteschlange. Setzen Sie per_day/count in [upstream.limits] (oder ein Preset)",
            ),
        ),
        Problem::Throttled => (
            s(
                "the provider is slowing this sender down",
                "le fournisseur ralentit cet expéditeur",
                "der Anbieter bremst diesen Absender",
            ),
            s(
                "try again later; lower rate or max_connections in [upstream.limits]",
                "réessayez plus tard ; baissez rate ou max_connections dans [upstream.limits]",
                "später erneut versuchen; rate oder max_connections in [upstream.limits] senken",
            ),
        ),
        Problem::RelayDenied => (
            s(
                "the server does not relay for this sender without a login",
                "le serveur ne relaie pas pour cet expéditeur sans authentification",
                "der Server leitet für diesen Absender ohne Anmeldung nicht weiter",
            ),
            s(
                "configure username and password, or ask the server's admin to allow this machine's address",
                "configurez username et mot de passe, ou demandez à l'administrateur d'autoriser l'adresse de cette machine",
                "konfigurieren Sie Benutzername und Passwort, oder lassen Sie die Adresse dieses Rechners freischalten",
            ),
        ),
        Problem::RecipientRefused => (
            s(
                "the server refused the recipient",
                "le serveur a refusé le destinataire",
                "der Server hat den Empfänger abgelehnt",
            ),
            s(
                "check the address; the reply above says why",
                "vérifiez l'adresse ; la réponse ci-dessus dit pourquoi",
                "prüfen Sie die Adresse; die Antwort oben nennt den Grund",
            ),
        ),
        Problem::DnsFailed => (
            s(
                "the host name {hp} cannot be resolved",
                "le nom d'hôte de {hp} est introuvable",
                "der Hostname von {hp} lässt sich nicht auflösen",
            ),
            s(
                "check the spelling of host, and this machine's DNS settings",
                "vérifiez l'orthographe de host et les réglages DNS de cette machine",
                "prüfen Sie die Schreibweise von host und die DNS-Einstellungen dieses Rechners",
            ),
        ),
        Problem::ConnectionRefused => (
            s(
                "nothing accepts connections on {hp}",
                "rien n'accepte de connexion sur {hp}",
                "auf {hp} nimmt nichts Verbindungen an",
            ),
            s(
                "check host and port against the provider's settings (587 or 465 for submission); a firewall may reject it",
                "comparez host et port aux réglages du fournisseur (587 ou 465 pour l'envoi) ; un pare-feu peut la rejeter",
                "vergleichen Sie host und Port mit den Angaben des Anbieters (587 oder 465); eine Firewall kann sie ablehnen",
            ),
        ),
        Problem::ConnectTimeout => (
            s(
                "no answer from {hp}: a firewall drops the connection, or the internet provider blocks the port (often 25)",
                "pas de réponse de {hp} : un pare-feu bloque la connexion, ou le fournisseur d'accès bloque le port (souvent 25)",
                "keine Antwort von {hp}: eine Firewall verwirft die Verbindung, oder der Internetanbieter sperrt den Port (oft 25)",
            ),
            s(
                "use the submission port 587 (STARTTLS) or 465 (SSL) and open it in the firewall",
                "utilisez le port de soumission 587 (STARTTLS) ou 465 (SSL) et ouvrez-le dans le pare-feu",
                "verwenden Sie den Submission-Port 587 (STARTTLS) oder 465 (SSL) und öffnen Sie ihn in der Firewall",
            ),
        ),
        Problem::TokenRefused => (
            s(
                "the server refused the OAuth2 access token, even a fresh one",
                "le serveur a refusé le jeton d'accès OAuth2, même un jeton neuf",
                "der Server hat das OAuth2-Zugriffstoken abgelehnt, auch ein neues",
            ),
            s(
                "check that the app may send as this mailbox (Microsoft 365: SMTP.SendAsApp with admin consent, the Exchange service principal and its mailbox permission, SMTP AUTH enabled for the mailbox; Gmail: the https://mail.google.com/ scope) and that username is that mailbox",
                "vérifiez que l'application peut envoyer au nom de cette boîte (Microsoft 365 : SMTP.SendAsApp avec consentement administrateur, le principal de service Exchange et son droit sur la boîte, SMTP AUTH activé pour la boîte ; Gmail : la portée https://mail.google.com/) et que username est cette boîte",
                "prüfen Sie, ob die App als dieses Postfach senden darf (Microsoft 365: SMTP.SendAsApp mit Administratorzustimmung, der Exchange-Dienstprinzipal und seine Postfachberechtigung, SMTP AUTH für das Postfach aktiviert; Gmail: der Bereich https://mail.google.com/) und ob username dieses Postfach ist",
            ),
        ),
        Problem::GrantMissing => (
            s(
                "there is no valid OAuth2 grant: the refresh token is missing, expired or revoked",
                "il n'y a pas d'autorisation OAuth2 valable : le jeton de rafraîchissement manque, a expiré ou a été révoqué",
                "es gibt keine gültige OAuth2-Berechtigung: das Aktualisierungstoken fehlt, ist abgelaufen oder widerrufen",
            ),
            s(
                "sign in again: `smarthost oauth2 login` (device flow), or put a new refresh token in refresh_token_file; queued mail then goes out",
                "reconnectez-vous : `smarthost oauth2 login` (flux appareil), ou placez un nouveau jeton dans refresh_token_file ; le courrier en attente partira ensuite",
                "melden Sie sich neu an: `smarthost oauth2 login` (Geräte-Flow), oder legen Sie ein neues Token in refresh_token_file; wartende Mail geht dann hinaus",
            ),
        ),
        Problem::AppRefused => (
            s(
                "the token endpoint refused the app (client id, client secret or permission)",
                "le point de jeton a refusé l'application (identifiant, secret client ou permission)",
                "der Token-Endpunkt hat die App abgelehnt (Client-ID, Client-Secret oder Berechtigung)",
            ),
            s(
                "check client_id and the client secret (secrets expire: make a new one in the app registration) and the tenant",
                "vérifiez client_id et le secret client (les secrets expirent : créez-en un nouveau dans l'inscription de l'application) et le tenant",
                "prüfen Sie client_id und das Client-Secret (Secrets laufen ab: erstellen Sie ein neues in der App-Registrierung) und den Tenant",
            ),
        ),
        Problem::TokenEndpointDown => (
            s(
                "the OAuth2 token endpoint could not be reached or answered with an error",
                "le point de jeton OAuth2 est injoignable ou a répondu par une erreur",
                "der OAuth2-Token-Endpunkt ist nicht erreichbar oder antwortete mit einem Fehler",
            ),
            s(
                "check that this machine reaches the token_url over HTTPS (proxy, firewall); mail waits and is retried",
                "vérifiez que cette machine atteint token_url en HTTPS (proxy, pare-feu) ; le courrier attend et sera réessayé",
                "prüfen Sie, ob dieser Rechner token_url per HTTPS erreicht (Proxy, Firewall); Mail wartet und wird erneut versucht",
            ),
        ),
        Problem::Other => (
            s(
                "the server refused; its reply is above",
                "le serveur a refusé ; sa réponse est ci-dessus",
                "der Server hat abgelehnt; seine Antwort steht oben",
            ),
            s(
                "look up the reply code in the provider's documentation",
                "cherchez le code de réponse dans la documentation du fournisseur",
                "suchen Sie den Antwortcode in der Dokumentation des Anbieters",
            ),
        ),
    };
    (what, fix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(text: &str) -> UpReply {
        UpReply {
            code: text[..3].parse().unwrap(),
            text: text.into(),
        }
    }

    #[test]
    fn provider_replies_map_to_their_problem() {
        let cases = [
            (
                "AUTH",
                "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.",
                Problem::SmtpAuthDisabled,
            ),
            (
                "AUTH",
                "534-5.7.9 Application-specific password required. Learn more at\n534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor",
                Problem::AppPasswordRequired,
            ),
            (
                "AUTH",
                "535 5.7.8 Error: authentication failed: authentication failure",
                Problem::BadCredentials,
            ),
            (
                "AUTH",
                "535 5.7.3 Authentication unsuccessful",
                Problem::BadCredentials,
            ),
            (
                "MAIL",
                "530 5.7.0 Must issue a STARTTLS command first",
                Problem::StartTlsRequired,
            ),
            (
                "end of DATA",
                "550 5.7.60 SMTP; Client does not have permissions to send as this sender",
                Problem::SendAsDenied,
            ),
            (
                "end of DATA",
                "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException",
                Problem::QuotaExceeded,
            ),
            (
                "AUTH",
                "550 5.7.30 Basic authentication is not supported for Client Submission.",
                Problem::BasicAuthDisabled,
            ),
            (
                "MAIL",
                "530 5.7.57 Client not authenticated to send mail.",
                Problem::AuthRequired,
            ),
            (
                "RCPT",
                "554 5.7.1 <x@y>: Relay access denied",
                Problem::RelayDenied,
            ),
            ("RCPT", "550 5.1.1 unknown user", Problem::RecipientRefused),
        ];
        for (stage, text, want) in cases {
            assert_eq!(from_reply(stage, &reply(text)), want, "{text}");
        }
    }

    fn target(conn: ConnMode, port: u16) -> Target {
        Target {
            host: "smtp.example.com".into(),
            port,
            conn,
            oauth: false,
        }
    }

    #[test]
    fn a_wrong_port_for_the_tls_mode_is_named_both_ways() {
        let silent = UpstreamError::Timeout { stage: "greeting" };
        assert_eq!(
            from_error(&silent, &target(ConnMode::StartTls, 465)),
            Problem::PlainOnImplicitTlsPort
        );
        let plaintext_as_tls =
            UpstreamError::Tls("received corrupt message of type InvalidContentType".into());
        assert_eq!(
            from_error(&plaintext_as_tls, &target(ConnMode::SslTls, 587)),
            Problem::ImplicitTlsOnPlainPort
        );
    }

    #[test]
    fn certificate_problems_are_told_apart() {
        let t = target(ConnMode::StartTls, 587);
        let name = UpstreamError::Tls("invalid peer certificate: NotValidForName".into());
        let ca = UpstreamError::Tls("invalid peer certificate: UnknownIssuer".into());
        assert_eq!(from_error(&name, &t), Problem::CertificateName);
        assert_eq!(from_error(&ca, &t), Problem::UnknownCa);
    }

    #[test]
    fn refused_and_silent_connections_point_at_the_firewall_or_the_port() {
        let t = target(ConnMode::StartTls, 25);
        let refused = UpstreamError::Connect {
            addr: "x".into(),
            source: std::io::ErrorKind::ConnectionRefused.into(),
        };
        assert_eq!(from_error(&refused, &t), Problem::ConnectionRefused);
        let (what, fix) = explain(
            from_error(&UpstreamError::Timeout { stage: "connect" }, &t),
            &t,
            Lang::En,
        );
        assert!(what.contains("port (often 25)"), "{what}");
        assert!(fix.contains("587"), "{fix}");
    }

    #[test]
    fn every_problem_is_explained_in_english_french_and_german() {
        let t = target(ConnMode::Auto, 587);
        let all = [
            Problem::ImplicitTlsOnPlainPort,
            Problem::PlainOnImplicitTlsPort,
            Problem::CertificateName,
            Problem::UnknownCa,
            Problem::CertificateExpired,
            Problem::TlsFailed,
            Problem::StartTlsRequired,
            Problem::StartTlsNotOffered,
            Problem::CredentialsInClear,
            Problem::MechanismNotOffered,
            Problem::SmtpAuthDisabled,
            Problem::BasicAuthDisabled,
            Problem::AppPasswordRequired,
            Problem::BadCredentials,
            Problem::AuthRequired,
            Problem::SendAsDenied,
            Problem::QuotaExceeded,
            Problem::Throttled,
            Problem::RelayDenied,
            Problem::RecipientRefused,
            Problem::DnsFailed,
            Problem::ConnectionRefused,
            Problem::ConnectTimeout,
            Problem::Other,
        ];
        for p in all {
            let texts: Vec<(String, String)> = [Lang::En, Lang::Fr, Lang::De]
                .map(|l| explain(p, &t, l))
                .into();
            assert!(
                texts.iter().all(|(w, f)| !w.is_empty() && !f.is_empty()),
                "{p:?}"
            );
            assert_ne!(texts[0], texts[1], "{p:?} French");
            assert_ne!(texts[0], texts[2], "{p:?} German");
        }
    }
}
