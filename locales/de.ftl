# smarthost: die Texte, die ein Mensch liest, auf Deutsch.
# One file per language, same message ids in each (tests/catalog.rs holds them together).
# Variables: $hp is "host:port", $port the port number.

## send-test verdicts: .what is the diagnosis, .fix what to change.

problem-implicit-tls-on-plain-port =
    .what = Port { $port } antwortet im Klartext: er erwartet STARTTLS, nicht implizites TLS (SSL)
    .fix = setzen Sie conn = "starttls" (oder Port 465 für implizites TLS)

problem-plain-on-implicit-tls-port =
    .what = { $hp } nimmt die Verbindung an, schweigt aber: der Port erwartet implizites TLS (SSL, meist 465)
    .fix = setzen Sie conn = "ssl_tls" (oder "auto"), oder Port 587 mit conn = "starttls"

problem-certificate-name =
    .what = das Zertifikat des Servers ist nicht für den verwendeten Namen ausgestellt ({ $hp })
    .fix = verwenden Sie den vom Anbieter dokumentierten Hostnamen (den im Zertifikat), keine IP-Adresse und keinen Alias

problem-unknown-ca =
    .what = das Zertifikat des Servers ist von einer Stelle signiert, der dieser Rechner nicht vertraut
    .fix = hinterlegen Sie die ausstellende CA mit ca_file = "..." (interne Server), oder prüfen Sie, ob TLS abgefangen wird

problem-certificate-expired =
    .what = das Zertifikat des Servers ist abgelaufen (oder die Uhr dieses Rechners geht falsch)
    .fix = prüfen Sie Datum und Uhrzeit; sonst muss der Betreiber das Zertifikat erneuern

problem-tls-failed =
    .what = der TLS-Handshake mit { $hp } ist fehlgeschlagen
    .fix = vergleichen Sie conn und Port mit den Angaben des Anbieters; alte Server brauchen evtl. eine neuere TLS-Version

problem-starttls-required =
    .what = der Server verlangt zuerst Verschlüsselung (STARTTLS)
    .fix = setzen Sie conn = "starttls" (oder "auto")

problem-starttls-not-offered =
    .what = conn = "starttls", aber { $hp } bietet kein STARTTLS an
    .fix = verwenden Sie den Submission-Port des Anbieters (587, oder 465 mit conn = "ssl_tls")

problem-credentials-in-clear =
    .what = die Verbindung ist unverschlüsselt, daher wurde das Passwort nicht gesendet
    .fix = verwenden Sie conn = "starttls" oder "ssl_tls"; conn = "plaintext" nur für Server im eigenen Netz

problem-mechanism-not-offered =
    .what = der Server bietet die eingestellte AUTH-Methode nicht an
    .fix = setzen Sie auth = "auto" oder eine der Methoden aus der EHLO-Antwort oben

problem-smtp-auth-disabled =
    .what = Office 365 hat SMTP AUTH für dieses Postfach oder den Tenant deaktiviert
    .fix = im Microsoft 365 Admin Center: Benutzer > Postfach > E-Mail > E-Mail-Apps verwalten > "Authentifiziertes SMTP" aktivieren (auch für den Tenant), oder auth = "xoauth2" verwenden

problem-basic-auth-disabled =
    .what = der Anbieter akzeptiert hier kein Passwort mehr (Basic Authentication ist abgeschaltet)
    .fix = verwenden Sie auth = "xoauth2" mit einem OAuth2-Token

problem-app-password-required =
    .what = Google lehnt das Kontopasswort ab: ein App-Passwort ist nötig
    .fix = aktivieren Sie die Bestätigung in zwei Schritten, erstellen Sie ein App-Passwort (myaccount.google.com > Sicherheit > App-Passwörter) und verwenden Sie es

problem-bad-credentials =
    .what = der Server hat Benutzername oder Passwort abgelehnt
    .fix = prüfen Sie Benutzername (oft die volle E-Mail-Adresse) und Passwort; geben Sie es neu ein, es kann sich geändert haben

problem-auth-required =
    .what = der Server nimmt Mail nur nach Anmeldung an
    .fix = setzen Sie username und ein Passwort (auth = "auto")

problem-send-as-denied =
    .what = dieses Postfach darf nicht mit der verwendeten Absenderadresse senden
    .fix = senden Sie mit der eigenen Adresse des Postfachs ([rewrite] from = "...") oder erteilen Sie "Senden als" für diese Adresse

problem-quota-exceeded =
    .what = das Postfach hat sein Sendekontingent erreicht
    .fix = warten Sie, bis das Zeitfenster des Anbieters frei wird (bis 24 h); smarthost behält die Mail in der Warteschlange. Setzen Sie per_day/count in [upstream.limits] (oder ein Preset)

problem-throttled =
    .what = der Anbieter bremst diesen Absender
    .fix = später erneut versuchen; rate oder max_connections in [upstream.limits] senken

problem-relay-denied =
    .what = der Server leitet für diesen Absender ohne Anmeldung nicht weiter
    .fix = konfigurieren Sie Benutzername und Passwort, oder ein Client-Zertifikat, das der Server kennt (tls_client_cert; Office-365-Connector), oder lassen Sie die Adresse dieses Rechners freischalten

problem-recipient-refused =
    .what = der Server hat den Empfänger abgelehnt
    .fix = prüfen Sie die Adresse; die Antwort oben nennt den Grund

problem-dns-failed =
    .what = der Hostname von { $hp } lässt sich nicht auflösen
    .fix = prüfen Sie die Schreibweise von host und die DNS-Einstellungen dieses Rechners

problem-connection-refused =
    .what = auf { $hp } nimmt nichts Verbindungen an
    .fix = vergleichen Sie host und Port mit den Angaben des Anbieters (587 oder 465); eine Firewall kann sie ablehnen

problem-connect-timeout =
    .what = keine Antwort von { $hp }: eine Firewall verwirft die Verbindung, oder der Internetanbieter sperrt den Port (oft 25)
    .fix = verwenden Sie den Submission-Port 587 (STARTTLS) oder 465 (SSL) und öffnen Sie ihn in der Firewall

problem-token-refused =
    .what = der Server hat das OAuth2-Zugriffstoken abgelehnt, auch ein neues
    .fix = prüfen Sie, ob die App als dieses Postfach senden darf (Microsoft 365: SMTP.SendAsApp mit Administratorzustimmung, der Exchange-Dienstprinzipal und seine Postfachberechtigung, SMTP AUTH für das Postfach aktiviert; Gmail: der Bereich https://mail.google.com/) und ob username dieses Postfach ist

problem-grant-missing =
    .what = es gibt keine gültige OAuth2-Berechtigung: das Aktualisierungstoken fehlt, ist abgelaufen oder widerrufen
    .fix = melden Sie sich neu an: `smarthost oauth2 login` (Geräte-Flow), oder legen Sie ein neues Token in refresh_token_file; wartende Mail geht dann hinaus

problem-app-refused =
    .what = der Token-Endpunkt hat die App abgelehnt (Client-ID, Client-Secret oder Berechtigung)
    .fix = prüfen Sie client_id und das Client-Secret (Secrets laufen ab: erstellen Sie ein neues in der App-Registrierung) und den Tenant

problem-token-endpoint-down =
    .what = der OAuth2-Token-Endpunkt ist nicht erreichbar oder antwortete mit einem Fehler
    .fix = prüfen Sie, ob dieser Rechner token_url per HTTPS erreicht (Proxy, Firewall); Mail wartet und wird erneut versucht

problem-other =
    .what = der Server hat abgelehnt; seine Antwort steht oben
    .fix = suchen Sie den Antwortcode in der Dokumentation des Anbieters

problem-graph-permission-missing =
    .what = Microsoft Graph hat die App abgelehnt: ihr fehlt die Anwendungsberechtigung Mail.Send, die Administratorzustimmung, oder eine Anwendungszugriffsrichtlinie schliesst dieses Postfach aus
    .fix = geben Sie der App in Entra ID die Anwendungsberechtigung Mail.Send und erteilen Sie die Administratorzustimmung; schränkt eine Anwendungszugriffsrichtlinie (oder RBAC für Anwendungen) die App ein, nehmen Sie dieses Postfach auf; Mail wartet so lange

problem-graph-mailbox-unknown =
    .what = Microsoft Graph kennt dieses Postfach nicht, oder es ist kein Exchange-Online-Postfach, aus dem gesendet werden kann
    .fix = prüfen Sie mailbox = "..." (oder die Absenderadresse): es muss ein lizenziertes Exchange-Online-Postfach des Tenants sein, kein Alias eines lokalen Postfachs

problem-graph-send-as-denied =
    .what = Microsoft Graph hat das Senden im Namen dieses Absenders abgelehnt (ErrorSendAsDenied)
    .fix = setzen Sie mailbox = "..." auf das Postfach, aus dem die App senden darf, oder geben Sie diesem Postfach "Senden als" für die Absenderadresse; mit [rewrite] from geht jede Nachricht von diesem Postfach aus

problem-graph-throttled =
    .what = Microsoft Graph bittet um Verlangsamung (429/503 mit Retry-After)
    .fix = nichts zu ändern: Mail wartet so lange wie von Graph verlangt und geht dann hinaus; kommt es oft vor, senken Sie rate = "..." in [upstream.limits]

## TLS-Identität (Ticket 20): noch nicht vertraute Serverzertifikate, Googles SMTP-Relay.

problem-self-signed-certificate =
    .what = { $hp } zeigt ein selbstsigniertes Zertifikat: niemand bürgt dafür, darum wird ihm nicht vertraut
    .fix = ist es Ihr eigener Server (internes Exchange, NAS, Appliance), vertrauen Sie genau diesem Zertifikat: tragen Sie es mit ca_file = "..." ein, oder fügen Sie die tls_fingerprint-Zeile unten ins Upstream ein

problem-ca-as-end-entity =
    .what = { $hp } zeigt ein CA-Zertifikat (CA:TRUE, wie openssl req -x509 es erzeugt) als eigenes Zertifikat, und es steht nicht in ca_file
    .fix = tragen Sie genau dieses Zertifikat mit ca_file = "..." ein (smarthost vertraut ihm dann direkt), oder fügen Sie die tls_fingerprint-Zeile unten ins Upstream ein

problem-fingerprint-mismatch =
    .what = das Zertifikat von { $hp } entspricht keinem der festgelegten tls_fingerprint-Werte: der Server hat ein neues Zertifikat, oder TLS wird abgefangen
    .fix = fragen Sie den Administrator des Servers, ob das Zertifikat erneuert wurde; wenn ja, ersetzen Sie tls_fingerprint durch die Zeile unten, sonst senden Sie keine Mail dorthin

problem-relay-not-allowed =
    .what = Googles SMTP-Relay-Dienst kennt diesen Rechner nicht: weder seine öffentliche IP-Adresse noch seine Anmeldung sind zugelassen („Invalid credentials for relay“)
    .fix = fügen Sie in der Google Admin-Konsole (Apps, Google Workspace, Gmail, Routing, SMTP-Relay-Dienst) die öffentliche IP-Adresse des Büros hinzu, oder verlangen Sie SMTP-Authentifizierung und setzen Sie username und ein App-Passwort eines Workspace-Benutzers

problem-relay-limit-exceeded =
    .what = der Workspace-Benutzer hat das Tageslimit des SMTP-Relay-Dienstes erreicht (10.000 Nachrichten oder Empfänger)
    .fix = jetzt nichts zu ändern: smarthost behält die Mail in der Warteschlange und sendet sie, sobald das 24-Stunden-Fenster frei wird; verteilen Sie große Versände auf mehrere Benutzer oder Tage

tls-pin-advice = um genau diesem Zertifikat zu vertrauen, ergänzen Sie im [[upstream]]: { $line }

## Schritte und Ergebnisse von send-test (die Kommandozeile und die Schaltfläche Testen der Konsole).

sendtest-start-smtp = { $hp } (conn { $conn }, auth { $auth })
sendtest-start-graph = Microsoft Graph unter { $url } (OAuth2 { $flow })
sendtest-step-resolved = { $host } -> { $addrs }
sendtest-step-connected = verbunden mit { $addr }
sendtest-step-tls = { $version }, { $cipher }; Zertifikatskette aus { $count } Zertifikat(en) geprüft
sendtest-step-auth = { $mechanism } gewählt (der Server bietet { $offered })
sendtest-step-client-cert-sent = der Server hat eines verlangt; gesendet { $cert }
sendtest-step-client-cert-not-asked = der Server hat keines verlangt (nicht gesendet: { $cert })
sendtest-step-token = Zugriffstoken von { $url }
sendtest-step-mailbox = { $mailbox } gefunden
sendtest-ok-accepted = { $hp } hat die Testnachricht angenommen ({ $reply })
sendtest-ok-no-send = Verbindung, TLS und Anmeldung bei { $hp } funktionieren (nichts gesendet: --no-send)
sendtest-ok-graph-no-send = Token und Postfach funktionieren (nichts gesendet: --no-send)
sendtest-ok-graph-accepted = Microsoft Graph hat die Testnachricht für { $to } angenommen (eine Kopie liegt in Gesendete Elemente)

## Die Konsole (Seiten und Schaltflächen).

console-title = smarthost-Konsole
console-nav-overview = Übersicht
console-nav-servers = Server
console-nav-queue = Warteschlange
console-nav-limits = Limits
console-nav-test-mode = Testmodus
console-nav-blacklist = Sperrliste
console-nav-journal = Journal
console-logout = Abmelden
console-login-title = Anmelden
console-login-password = Passwort
console-login-button = Anmelden
console-login-wrong = Falsches Passwort.
console-login-banned = Zu viele fehlgeschlagene Anmeldungen von dieser Adresse; erneut in { $seconds } s.
console-login-no-password = Kein Konsolen-Passwort gesetzt: verwenden Sie den beim Start ausgegebenen Einmal-Link, oder setzen Sie [console] password_hash (smarthost passwd erzeugt einen).
console-test-mode-banner = TESTMODUS AKTIV: jede Nachricht geht nur an { $address }.
console-queue-counts = { $messages } in der Warteschlange: { $waiting } wartend, { $deferred } zurückgestellt, { $limited } durch ein Limit gehalten, { $held } angehalten; ältestes { $age }
console-upstream = Server
console-health = Zustand
console-health-ok = funktioniert
console-health-failing = fehlerhaft
console-health-unknown = noch nicht versucht
console-last-error = Letzter Fehler
console-last-delivery = Letzte Zustellung
console-quota = Kontingent
console-used = { $used } von { $limit } verbraucht, { $left } übrig
console-next-at = nächste um { $at }
console-paused-until = vom Anbieter pausiert bis { $at }
console-connections = Verbindungen
console-chart-title = Die letzten 24 Stunden
console-chart-delivered = zugestellt
console-chart-deferred = zurückgestellt
console-chart-bounced = unzustellbar
console-chart-rejected = bei Annahme abgelehnt
console-filter = Filtern
console-sender = Absender
console-recipient = Empfänger
console-state = Status
console-any = alle
console-age = Alter
console-attempts = Versuche
console-next-attempt = Nächster Versuch
console-retry = Jetzt erneut versuchen
console-hold = Anhalten
console-release = Freigeben
console-delete = Löschen mit Rückmeldung
console-delete-silent = Still löschen
console-queue-empty = Die Warteschlange ist leer.
console-message-headers = Kopfzeilen
console-message-history = Verlauf
console-reset = Limits jetzt zurücksetzen
console-reset-hint = Vergisst die gezählte Nutzung und jede Anbieterpause; gehaltene Mail geht jetzt hinaus.
console-no-limits = Kein Server hat Limits.
console-test-mode-on = Testmodus an
console-test-mode-redirect = Jede Nachricht senden an
console-save = Speichern
console-saved = Gespeichert und angewendet.
console-blacklist-add = Hinzufügen
console-blacklist-remove = Entfernen
console-blacklist-hint = Eine Adresse, @domain (diese Domain) oder *.domain (ihre Subdomains). Mail an sie wird abgelehnt.
console-blacklist-empty = Die Sperrliste ist leer.
console-journal-live = Neue Ereignisse erscheinen sofort.
console-time = Zeit
console-event = Ereignis
console-details = Details
console-error = Nicht ausgeführt: { $reason }

## Die Seite Server: die Liste, das Formular, der Test.

console-server-name = Name
console-server-preset = Vorlage
console-server-preset-none = (keine: Felder selbst ausfüllen)
console-server-host = Host
console-server-port = Port
console-server-conn = Verbindungssicherheit (CONN)
console-server-auth = Anmeldeverfahren (AUTH)
console-server-username = Benutzername
console-server-password = Passwort
console-server-password-is-set = gesetzt
console-server-password-set = ein Passwort ist gesetzt; lassen Sie das Feld leer, um es zu behalten
console-server-ca-file = CA-Datei (interne Server)
console-server-senders = Hierher geleitete Absender
console-server-default = Standardserver
console-server-add = Server hinzufügen
console-server-edit = Bearbeiten
console-server-delete = Löschen
console-server-delete-confirm = Den Server { $name } löschen?
console-server-make-default = Als Standard festlegen
console-server-tester = Testen...
console-server-export-csv = Als CSV exportieren
console-server-export-json = Als JSON exportieren
console-server-new-title = Neuer Server
console-server-edit-title = Server { $name }
console-cancel = Abbrechen
console-tester-title = Test von { $name }
console-tester-to = Testnachricht senden an
console-tester-hint = Ohne Adresse werden nur Verbindung, TLS und Anmeldung geprüft; nichts wird gesendet.
console-tester-run = Test starten
console-tester-running = Test läuft…
console-tester-step = Schritt
console-tester-ok = OK
console-tester-failed = FEHLGESCHLAGEN
console-tester-error = Fehler
console-tester-fix = Abhilfe
console-field-name = ein Name aus 1 bis 64 Buchstaben, Ziffern, Punkten, Binde- oder Unterstrichen, der mit einem Buchstaben oder einer Ziffer beginnt
console-field-preset = keine Vorlage für einen SMTP-Server (siehe smarthost presets)
console-field-host = weder ein Hostname noch eine IP-Adresse
console-field-port = ein Port ist eine Zahl von 1 bis 65535
console-field-conn = CONN ist auto, plaintext, ssl_tls oder starttls
console-field-auth = AUTH ist auto, none, plain, login, cram_md5, ntlm, xoauth2 oder oauthbearer
console-field-username = ein Benutzername hat höchstens 256 Zeichen, ohne Zeilenumbruch
console-field-password = ein Passwort hat höchstens 1024 Zeichen, ohne Zeilenumbruch
console-field-ca-file = unter diesem Pfad liegt keine lesbare Zertifikatsdatei
console-field-senders = Adressen (benutzer@domain) oder Domains (domain.ch), durch Leerzeichen oder Kommas getrennt
console-field-address = keine E-Mail-Adresse
console-server-exists = ein Server namens { $name } existiert bereits
console-server-unknown = es gibt keinen Server namens { $name }
console-server-not-smtp = { $name } ist kein SMTP-Server: ändern Sie ihn in der Konfigurationsdatei
console-server-delete-default = { $name } ist der Standardserver: legen Sie zuerst einen anderen Server als Standard fest
console-server-delete-used = { $name } wird noch von { $by } genannt: ändern Sie diese zuerst
console-server-inline = die Server dieser Datei sind nicht als [[upstream]]-Tabellen geschrieben: ändern Sie sie in der Datei
console-server-untestable = { $name } kann nicht getestet werden (kein SMTP- oder Graph-Server dieses Namens)

## Was als Passwort einzugeben ist, je Vorlage.

preset-advice-office365 = das Passwort des Postfachs, aber nur solange der Tenant SMTP AUTH mit Standardauthentifizierung erlaubt (für bestehende Tenants ab Ende Dezember 2026 standardmässig aus); sonst auth = "xoauth2" mit einem OAuth2-Token
preset-advice-gmail = ein App-Passwort (erfordert die Bestätigung in zwei Schritten), nie das Passwort des Kontos; oder auth = "xoauth2" mit einem OAuth2-Token
preset-advice-infomaniak = die vollständige E-Mail-Adresse als Benutzername und das Passwort des Postfachs
preset-advice-bluewin = die Bluewin-E-Mail-Adresse als Benutzername und ihr Passwort
preset-advice-office365-graph = kein Passwort: eine Entra-App mit der Anwendungsberechtigung Mail.Send (Administratorzustimmung), ihr Clientgeheimnis in [upstream.oauth2]
preset-advice-office365-connector = kein Passwort: ein eingehender Connector, der die IP-Adresse dieses Büros oder sein Clientzertifikat (tls_client_cert) kennt; host = Ihr <domain>.mail.protection.outlook.com
preset-advice-gmail-relay = keines, wenn der SMTP-Relay-Dienst der Google-Admin-Konsole die IP-Adresse dieses Büros erlaubt; sonst ein Workspace-Benutzer und ein App-Passwort, mit «SMTP-Authentifizierung erforderlich»
