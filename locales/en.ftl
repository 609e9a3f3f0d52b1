# smarthost: the texts a person reads, in English.
# One file per language, same message ids in each (tests/catalog.rs holds them together).
# Variables: $hp is "host:port", $port the port number.

## send-test verdicts: .what is the diagnosis, .fix what to change.

problem-implicit-tls-on-plain-port =
    .what = port { $port } answers in plain text: it expects STARTTLS, not implicit TLS (SSL)
    .fix = set conn = "starttls" (or use port 465 for implicit TLS)

problem-plain-on-implicit-tls-port =
    .what = { $hp } accepted the connection but said nothing: the port waits for implicit TLS (SSL, usually 465)
    .fix = set conn = "ssl_tls" (or "auto"), or use port 587 with conn = "starttls"

problem-certificate-name =
    .what = the server's certificate is not issued for the name { $hp } uses
    .fix = use the host name the provider documents (the one in its certificate), not an IP address or alias

problem-unknown-ca =
    .what = the server's certificate is signed by an authority this machine does not trust
    .fix = install the issuing CA and set ca_file = "..." in the upstream (internal servers), or check that nothing intercepts TLS

problem-certificate-expired =
    .what = the server's certificate has expired (or this machine's clock is wrong)
    .fix = check the date and time here; otherwise the server's operator must renew the certificate

problem-tls-failed =
    .what = the TLS handshake with { $hp } failed
    .fix = check conn and port against the provider's settings; old servers may need a newer TLS version

problem-starttls-required =
    .what = the server requires encryption (STARTTLS) before anything else
    .fix = set conn = "starttls" (or "auto")

problem-starttls-not-offered =
    .what = conn = "starttls" but { $hp } does not offer STARTTLS
    .fix = use the provider's submission port (587, or 465 with conn = "ssl_tls")

problem-credentials-in-clear =
    .what = the connection is not encrypted, so the password was not sent
    .fix = use conn = "starttls" or "ssl_tls"; only if the server is on your own network, conn = "plaintext"

problem-mechanism-not-offered =
    .what = the server does not offer the AUTH mechanism configured
    .fix = set auth = "auto", or one of the mechanisms listed in the EHLO reply above

problem-smtp-auth-disabled =
    .what = Office 365 has SMTP AUTH switched off for this mailbox or tenant
    .fix = in the Microsoft 365 admin center: Users > the mailbox > Mail > Manage email apps > tick "Authenticated SMTP" (and allow it for the tenant), or use auth = "xoauth2"

problem-basic-auth-disabled =
    .what = the provider no longer accepts a password here (basic authentication is switched off)
    .fix = use auth = "xoauth2" with an OAuth2 token

problem-app-password-required =
    .what = Google refuses the account password: an app password is required
    .fix = turn on 2-Step Verification, create an app password (myaccount.google.com > Security > App passwords) and use it as password

problem-bad-credentials =
    .what = the server refused the username or password
    .fix = check username (often the full e-mail address) and password; retype the password, it may have changed

problem-auth-required =
    .what = the server only accepts mail after a login
    .fix = set username and a password (auth = "auto")

problem-send-as-denied =
    .what = this mailbox may not send as the sender address used
    .fix = send as the mailbox's own address ([rewrite] from = "...") or grant it "Send As" for that address

problem-quota-exceeded =
    .what = the mailbox has reached its sending quota
    .fix = wait until the provider's window frees (up to 24 h); smarthost keeps the mail queued. Set per_day/count in [upstream.limits] (or a preset) to stay under it

problem-throttled =
    .what = the provider is slowing this sender down
    .fix = try again later; lower rate or max_connections in [upstream.limits]

problem-relay-denied =
    .what = the server does not relay for this sender without a login
    .fix = configure username and password, or a client certificate the server knows (tls_client_cert; an Office 365 connector), or ask the server's admin to allow this machine's address

problem-recipient-refused =
    .what = the server refused the recipient
    .fix = check the address; the reply above says why

problem-dns-failed =
    .what = the host name { $hp } cannot be resolved
    .fix = check the spelling of host, and this machine's DNS settings

problem-connection-refused =
    .what = nothing accepts connections on { $hp }
    .fix = check host and port against the provider's settings (587 or 465 for submission); a firewall may reject it

problem-connect-timeout =
    .what = no answer from { $hp }: a firewall drops the connection, or the internet provider blocks the port (often 25)
    .fix = use the submission port 587 (STARTTLS) or 465 (SSL) and open it in the firewall

problem-token-refused =
    .what = the server refused the OAuth2 access token, even a fresh one
    .fix = check that the app may send as this mailbox (Microsoft 365: SMTP.SendAsApp with admin consent, the Exchange service principal and its mailbox permission, SMTP AUTH enabled for the mailbox; Gmail: the https://mail.google.com/ scope) and that username is that mailbox

problem-grant-missing =
    .what = there is no valid OAuth2 grant: the refresh token is missing, expired or revoked
    .fix = sign in again: `smarthost oauth2 login` (device flow), or put a new refresh token in refresh_token_file; queued mail then goes out

problem-app-refused =
    .what = the token endpoint refused the app (client id, client secret or permission)
    .fix = check client_id and the client secret (secrets expire: make a new one in the app registration) and the tenant

problem-token-endpoint-down =
    .what = the OAuth2 token endpoint could not be reached or answered with an error
    .fix = check that this machine reaches the token_url over HTTPS (proxy, firewall); mail waits and is retried

problem-other =
    .what = the server refused; its reply is above
    .fix = look up the reply code in the provider's documentation

problem-graph-permission-missing =
    .what = Microsoft Graph refused the app: it lacks the Mail.Send application permission, admin consent, or an application access policy leaves this mailbox out
    .fix = in Entra ID, give the app the Mail.Send application permission and grant admin consent; if an application access policy (or RBAC for Applications) restricts the app, add this mailbox to it; mail waits meanwhile

problem-graph-mailbox-unknown =
    .what = Microsoft Graph does not know this mailbox, or it is not an Exchange Online mailbox it can send from
    .fix = check mailbox = "..." (or the sender address): it must be a licensed Exchange Online mailbox of the tenant, not an alias of an on-premises mailbox

problem-graph-send-as-denied =
    .what = Microsoft Graph refused to send as this sender (ErrorSendAsDenied)
    .fix = set mailbox = "..." to the mailbox the app may send from, or give that mailbox Send As permission for the sender address; [rewrite] from can make every message come from that mailbox

problem-graph-throttled =
    .what = Microsoft Graph asked to slow down (429/503 with Retry-After)
    .fix = nothing to change: mail waits as long as Graph asked and then goes out; if it happens often, lower rate = "..." in [upstream.limits]

## TLS identity (issue 20): server certificates smarthost does not trust yet, Google's SMTP relay.

problem-self-signed-certificate =
    .what = { $hp } presents a self-signed certificate: nobody vouches for it, so it is not trusted
    .fix = if this is your own server (an internal Exchange, a NAS, an appliance), trust exactly this certificate: set ca_file = "..." to it, or paste the tls_fingerprint line below into the upstream

problem-ca-as-end-entity =
    .what = { $hp } presents a CA certificate (CA:TRUE, as openssl req -x509 makes them) as its own certificate, and it is not in ca_file
    .fix = set ca_file = "..." to that very certificate (smarthost then trusts it directly), or paste the tls_fingerprint line below into the upstream

problem-fingerprint-mismatch =
    .what = the certificate of { $hp } is none of the pinned tls_fingerprint values: the server has a new certificate, or something intercepts TLS
    .fix = ask the server's admin whether the certificate was renewed; if so, replace tls_fingerprint with the line below, otherwise send no mail there

problem-relay-not-allowed =
    .what = Google's SMTP relay service does not know this machine: neither its public IP address nor its login is allowed ("Invalid credentials for relay")
    .fix = in the Google Admin console (Apps, Google Workspace, Gmail, Routing, SMTP relay service) add this office's public IP address, or require SMTP authentication and set username and an app password of a Workspace user

problem-relay-limit-exceeded =
    .what = the Workspace user has reached the SMTP relay service's daily limit (10,000 messages or recipients)
    .fix = nothing to change now: smarthost keeps the mail queued and sends it when the 24 h window frees; spread large mailings over several users or days

tls-pin-advice = to trust exactly this certificate, add to the [[upstream]]: { $line }

## send-test steps and results (the CLI and the console's Tester).

sendtest-start-smtp = { $hp } (conn { $conn }, auth { $auth })
sendtest-start-graph = Microsoft Graph at { $url } (OAuth2 { $flow })
sendtest-step-resolved = { $host } -> { $addrs }
sendtest-step-connected = connected to { $addr }
sendtest-step-tls = { $version }, { $cipher }; certificate chain of { $count } verified
sendtest-step-auth = { $mechanism } chosen (server offers { $offered })
sendtest-step-client-cert-sent = the server asked for one; sent { $cert }
sendtest-step-client-cert-not-asked = the server did not ask for one (not sent: { $cert })
sendtest-step-token = access token from { $url }
sendtest-step-mailbox = { $mailbox } found
sendtest-ok-accepted = { $hp } accepted the test message ({ $reply })
sendtest-ok-no-send = connection, TLS and login to { $hp } work (nothing sent: --no-send)
sendtest-ok-graph-no-send = token and mailbox work (nothing sent: --no-send)
sendtest-ok-graph-accepted = Microsoft Graph accepted the test message for { $to } (a copy is in Sent Items)

## The operator console (pages and buttons).

console-title = smarthost console
console-nav-overview = Overview
console-nav-servers = Servers
console-nav-queue = Queue
console-nav-limits = Limits
console-nav-test-mode = Test mode
console-nav-blacklist = Blacklist
console-nav-journal = Journal
console-logout = Log out
console-login-title = Log in
console-login-password = Password
console-login-button = Log in
console-login-wrong = Wrong password.
console-login-banned = Too many failed logins from this address; try again in { $seconds } s.
console-login-no-password = No console password is set: use the one-time link the relay printed at start, or set [console] password_hash (smarthost passwd prints one).
console-test-mode-banner = TEST MODE IS ON: every message goes to { $address } only.
console-queue-counts = { $messages } queued: { $waiting } waiting, { $deferred } deferred, { $limited } waiting for a limit, { $held } held; oldest { $age }
console-upstream = Server
console-health = Health
console-health-ok = works
console-health-failing = failing
console-health-unknown = not tried yet
console-last-error = Last error
console-last-delivery = Last delivery
console-quota = Quota
console-used = { $used } of { $limit } used, { $left } left
console-next-at = next at { $at }
console-paused-until = paused by the provider until { $at }
console-connections = Connections
console-chart-title = The last 24 hours
console-chart-delivered = delivered
console-chart-deferred = deferred
console-chart-bounced = bounced
console-chart-rejected = refused at the door
console-filter = Filter
console-sender = Sender
console-recipient = Recipient
console-state = State
console-any = any
console-age = Age
console-attempts = Attempts
console-next-attempt = Next attempt
console-retry = Retry now
console-hold = Hold
console-release = Release
console-delete = Delete and bounce
console-delete-silent = Delete silently
console-queue-empty = The queue is empty.
console-message-headers = Headers
console-message-history = History
console-reset = Reset the limits now
console-reset-hint = Forgets the counted use and any provider pause; held mail goes out now.
console-no-limits = No server has limits.
console-test-mode-on = Test mode on
console-test-mode-redirect = Send every message to
console-save = Save
console-saved = Saved and applied.
console-blacklist-add = Add
console-blacklist-remove = Remove
console-blacklist-hint = An address, @domain (that domain) or *.domain (its subdomains). Mail to them is refused.
console-blacklist-empty = The blacklist is empty.
console-journal-live = New events appear as they happen.
console-time = Time
console-event = Event
console-details = Details
console-error = Not done: { $reason }

## The Servers page: the list, the form, the Tester.

console-server-name = Name
console-server-preset = Preset
console-server-preset-none = (none: fill in the fields)
console-server-host = Host
console-server-port = Port
console-server-conn = Connection security (CONN)
console-server-auth = Login method (AUTH)
console-server-username = Username
console-server-password = Password
console-server-password-is-set = set
console-server-password-set = a password is set; leave the field empty to keep it
console-server-ca-file = CA file (internal servers)
console-server-senders = Senders routed here
console-server-default = Default server
console-server-add = Add a server
console-server-edit = Edit
console-server-delete = Delete
console-server-delete-confirm = Delete the server { $name }?
console-server-make-default = Set as default
console-server-tester = Tester...
console-server-export-csv = Export CSV
console-server-export-json = Export JSON
console-server-new-title = New server
console-server-edit-title = Server { $name }
console-cancel = Cancel
console-tester-title = Test of { $name }
console-tester-to = Send a test message to
console-tester-hint = Without an address, only the connection, TLS and the login are tested; nothing is sent.
console-tester-run = Run the test
console-tester-running = Testing…
console-tester-step = Step
console-tester-ok = OK
console-tester-failed = FAILED
console-tester-error = Error
console-tester-fix = Fix
console-field-name = a name of 1 to 64 letters, digits, dots, hyphens or underscores, starting with a letter or a digit
console-field-preset = not a preset for an SMTP server (see smarthost presets)
console-field-host = not a host name or an IP address
console-field-port = a port is a number from 1 to 65535
console-field-conn = CONN is one of auto, plaintext, ssl_tls or starttls
console-field-auth = AUTH is one of auto, none, plain, login, cram_md5, ntlm, xoauth2 or oauthbearer
console-field-username = a username is at most 256 characters, without line breaks
console-field-password = a password is at most 1024 characters, without line breaks
console-field-ca-file = no readable certificate file at this path
console-field-senders = addresses (user@domain) or domains (domain.ch), separated by spaces or commas
console-field-address = not an e-mail address
console-server-exists = a server named { $name } already exists
console-server-unknown = there is no server named { $name }
console-server-not-smtp = { $name } is not an SMTP server: change it in the configuration file
console-server-delete-default = { $name } is the default server: make another server the default first
console-server-delete-used = { $name } is still named by { $by }: change those first
console-server-inline = the servers in this file are not written as [[upstream]] tables: change them in the file
console-server-untestable = { $name } cannot be tested (no such SMTP or Graph server)

## What to type as the password, per preset.

preset-advice-office365 = the mailbox password only while the tenant allows SMTP AUTH with basic authentication (off by default for existing tenants from the end of December 2026); otherwise auth = "xoauth2" with an OAuth2 token
preset-advice-gmail = an app password (needs 2-Step Verification), never the account password; or auth = "xoauth2" with an OAuth2 token
preset-advice-infomaniak = the full e-mail address as username and the mailbox password
preset-advice-bluewin = the Bluewin e-mail address as username and its password
preset-advice-office365-graph = no password: an Entra app with the Mail.Send application permission (admin consent), its client secret in [upstream.oauth2]
preset-advice-office365-connector = no password: an inbound connector that knows this office's IP address or its client certificate (tls_client_cert); host = your <domain>.mail.protection.outlook.com
preset-advice-gmail-relay = none when the Google Admin console's SMTP relay service allows this office's IP address; otherwise a Workspace user and an app password, with "require SMTP authentication" on
