# smarthost : les textes que lit une personne, en français.
# One file per language, same message ids in each (tests/catalog.rs holds them together).
# Variables: $hp is "host:port", $port the port number.

## send-test verdicts: .what is the diagnosis, .fix what to change.

problem-implicit-tls-on-plain-port =
    .what = le port { $port } répond en clair : il attend STARTTLS, pas TLS implicite (SSL)
    .fix = mettez conn = "starttls" (ou le port 465 pour TLS implicite)

problem-plain-on-implicit-tls-port =
    .what = { $hp } accepte la connexion mais ne dit rien : le port attend du TLS implicite (SSL, en général 465)
    .fix = mettez conn = "ssl_tls" (ou "auto"), ou le port 587 avec conn = "starttls"

problem-certificate-name =
    .what = le certificat du serveur n'est pas établi pour le nom utilisé ({ $hp })
    .fix = utilisez le nom d'hôte documenté par le fournisseur (celui du certificat), pas une adresse IP ni un alias

problem-unknown-ca =
    .what = le certificat du serveur est signé par une autorité que cette machine ne connaît pas
    .fix = installez l'autorité émettrice et indiquez ca_file = "..." (serveurs internes), ou vérifiez que rien n'intercepte le TLS

problem-certificate-expired =
    .what = le certificat du serveur a expiré (ou l'horloge de cette machine est fausse)
    .fix = vérifiez la date et l'heure ici ; sinon l'exploitant du serveur doit renouveler le certificat

problem-tls-failed =
    .what = la négociation TLS avec { $hp } a échoué
    .fix = comparez conn et port aux réglages du fournisseur ; un vieux serveur peut nécessiter une version TLS plus récente

problem-starttls-required =
    .what = le serveur exige le chiffrement (STARTTLS) avant toute chose
    .fix = mettez conn = "starttls" (ou "auto")

problem-starttls-not-offered =
    .what = conn = "starttls" mais { $hp } ne propose pas STARTTLS
    .fix = utilisez le port de soumission du fournisseur (587, ou 465 avec conn = "ssl_tls")

problem-credentials-in-clear =
    .what = la connexion n'est pas chiffrée : le mot de passe n'a pas été envoyé
    .fix = utilisez conn = "starttls" ou "ssl_tls" ; conn = "plaintext" seulement pour un serveur de votre réseau

problem-mechanism-not-offered =
    .what = le serveur ne propose pas la méthode AUTH configurée
    .fix = mettez auth = "auto", ou une des méthodes de la réponse EHLO ci-dessus

problem-smtp-auth-disabled =
    .what = Office 365 a désactivé SMTP AUTH pour cette boîte ou ce tenant
    .fix = dans le centre d'administration Microsoft 365 : Utilisateurs > la boîte > Courrier > Gérer les applications de messagerie > cochez « SMTP authentifié » (et autorisez-le pour le tenant), ou utilisez auth = "xoauth2"

problem-basic-auth-disabled =
    .what = le fournisseur n'accepte plus de mot de passe ici (authentification de base désactivée)
    .fix = utilisez auth = "xoauth2" avec un jeton OAuth2

problem-app-password-required =
    .what = Google refuse le mot de passe du compte : un mot de passe d'application est requis
    .fix = activez la validation en deux étapes, créez un mot de passe d'application (myaccount.google.com > Sécurité > Mots de passe des applications) et utilisez-le

problem-bad-credentials =
    .what = le serveur a refusé le nom d'utilisateur ou le mot de passe
    .fix = vérifiez l'utilisateur (souvent l'adresse complète) et le mot de passe ; ressaisissez-le, il a pu changer

problem-auth-required =
    .what = le serveur n'accepte le courrier qu'après authentification
    .fix = indiquez username et un mot de passe (auth = "auto")

problem-send-as-denied =
    .what = cette boîte n'a pas le droit d'envoyer avec l'adresse d'expéditeur utilisée
    .fix = envoyez avec l'adresse de la boîte ([rewrite] from = "...") ou donnez-lui le droit « Envoyer comme » pour cette adresse

problem-quota-exceeded =
    .what = la boîte a atteint son quota d'envoi
    .fix = attendez la fin de la fenêtre du fournisseur (jusqu'à 24 h) ; smarthost garde le courrier en file. Réglez per_day/count dans [upstream.limits] (ou un preset) pour rester en dessous

problem-throttled =
    .what = le fournisseur ralentit cet expéditeur
    .fix = réessayez plus tard ; baissez rate ou max_connections dans [upstream.limits]

problem-relay-denied =
    .what = le serveur ne relaie pas pour cet expéditeur sans authentification
    .fix = configurez username et mot de passe, ou un certificat client que le serveur connaît (tls_client_cert ; connecteur Office 365), ou demandez à l'administrateur d'autoriser l'adresse de cette machine

problem-recipient-refused =
    .what = le serveur a refusé le destinataire
    .fix = vérifiez l'adresse ; la réponse ci-dessus dit pourquoi

problem-dns-failed =
    .what = le nom d'hôte de { $hp } est introuvable
    .fix = vérifiez l'orthographe de host et les réglages DNS de cette machine

problem-connection-refused =
    .what = rien n'accepte de connexion sur { $hp }
    .fix = comparez host et port aux réglages du fournisseur (587 ou 465 pour l'envoi) ; un pare-feu peut la rejeter

problem-connect-timeout =
    .what = pas de réponse de { $hp } : un pare-feu bloque la connexion, ou le fournisseur d'accès bloque le port (souvent 25)
    .fix = utilisez le port de soumission 587 (STARTTLS) ou 465 (SSL) et ouvrez-le dans le pare-feu

problem-token-refused =
    .what = le serveur a refusé le jeton d'accès OAuth2, même un jeton neuf
    .fix = vérifiez que l'application peut envoyer au nom de cette boîte (Microsoft 365 : SMTP.SendAsApp avec consentement administrateur, le principal de service Exchange et son droit sur la boîte, SMTP AUTH activé pour la boîte ; Gmail : la portée https://mail.google.com/) et que username est cette boîte

problem-grant-missing =
    .what = il n'y a pas d'autorisation OAuth2 valable : le jeton de rafraîchissement manque, a expiré ou a été révoqué
    .fix = reconnectez-vous : `smarthost oauth2 login` (flux appareil), ou placez un nouveau jeton dans refresh_token_file ; le courrier en attente partira ensuite

problem-app-refused =
    .what = le point de jeton a refusé l'application (identifiant, secret client ou permission)
    .fix = vérifiez client_id et le secret client (les secrets expirent : créez-en un nouveau dans l'inscription de l'application) et le tenant

problem-token-endpoint-down =
    .what = le point de jeton OAuth2 est injoignable ou a répondu par une erreur
    .fix = vérifiez que cette machine atteint token_url en HTTPS (proxy, pare-feu) ; le courrier attend et sera réessayé

problem-other =
    .what = le serveur a refusé ; sa réponse est ci-dessus
    .fix = cherchez le code de réponse dans la documentation du fournisseur

problem-graph-permission-missing =
    .what = Microsoft Graph a refusé l'application : il lui manque l'autorisation d'application Mail.Send, le consentement administrateur, ou une stratégie d'accès exclut cette boîte
    .fix = dans Entra ID, donnez à l'application l'autorisation d'application Mail.Send et accordez le consentement administrateur ; si une stratégie d'accès aux applications (ou RBAC pour les applications) la restreint, ajoutez-y cette boîte ; le courrier attend en attendant

problem-graph-mailbox-unknown =
    .what = Microsoft Graph ne connaît pas cette boîte aux lettres, ou ce n'est pas une boîte Exchange Online depuis laquelle il peut envoyer
    .fix = vérifiez mailbox = "..." (ou l'adresse d'expéditeur) : ce doit être une boîte Exchange Online du tenant avec licence, pas un alias d'une boîte locale

problem-graph-send-as-denied =
    .what = Microsoft Graph a refusé d'envoyer au nom de cet expéditeur (ErrorSendAsDenied)
    .fix = indiquez mailbox = "..." avec la boîte depuis laquelle l'application peut envoyer, ou donnez à cette boîte le droit « Envoyer en tant que » pour l'adresse d'expéditeur ; [rewrite] from peut faire partir chaque message de cette boîte

problem-graph-throttled =
    .what = Microsoft Graph demande de ralentir (429/503 avec Retry-After)
    .fix = rien à changer : le courrier attend le délai demandé par Graph puis part ; si cela arrive souvent, baissez rate = "..." dans [upstream.limits]

## Identité TLS (ticket 20) : certificats de serveur pas encore reconnus, relais SMTP de Google.

problem-self-signed-certificate =
    .what = { $hp } présente un certificat auto-signé : personne ne le garantit, il n'est donc pas reconnu
    .fix = s'il s'agit de votre propre serveur (Exchange interne, NAS, appliance), faites confiance exactement à ce certificat : indiquez-le dans ca_file = "...", ou collez dans l'upstream la ligne tls_fingerprint ci-dessous

problem-ca-as-end-entity =
    .what = { $hp } présente un certificat d'autorité (CA:TRUE, comme en fait openssl req -x509) comme son propre certificat, et il n'est pas dans ca_file
    .fix = indiquez ce certificat même dans ca_file = "..." (smarthost lui fait alors confiance directement), ou collez dans l'upstream la ligne tls_fingerprint ci-dessous

problem-fingerprint-mismatch =
    .what = le certificat de { $hp } ne correspond à aucune valeur tls_fingerprint épinglée : le serveur a un nouveau certificat, ou quelque chose intercepte le TLS
    .fix = demandez à l'administrateur du serveur si le certificat a été renouvelé ; si oui, remplacez tls_fingerprint par la ligne ci-dessous, sinon n'y envoyez pas de courrier

problem-relay-not-allowed =
    .what = le service de relais SMTP de Google ne connaît pas cette machine : ni son adresse IP publique ni son identifiant ne sont autorisés (« Invalid credentials for relay »)
    .fix = dans la console d'administration Google (Applications, Google Workspace, Gmail, Routage, Service de relais SMTP), ajoutez l'adresse IP publique du bureau, ou exigez l'authentification SMTP et indiquez username et un mot de passe d'application d'un utilisateur Workspace

problem-relay-limit-exceeded =
    .what = l'utilisateur Workspace a atteint la limite quotidienne du service de relais SMTP (10 000 messages ou destinataires)
    .fix = rien à changer pour l'instant : smarthost garde le courrier en file et l'envoie quand la fenêtre de 24 h se libère ; répartissez les gros envois sur plusieurs utilisateurs ou jours

tls-pin-advice = pour faire confiance exactement à ce certificat, ajoutez dans le [[upstream]] : { $line }

## Étapes et résultats de send-test (la ligne de commande et le bouton Tester de la console).

sendtest-start-smtp = { $hp } (conn { $conn }, auth { $auth })
sendtest-start-graph = Microsoft Graph à { $url } (OAuth2 { $flow })
sendtest-step-resolved = { $host } -> { $addrs }
sendtest-step-connected = connecté à { $addr }
sendtest-step-tls = { $version }, { $cipher } ; chaîne de { $count } certificat(s) vérifiée
sendtest-step-auth = { $mechanism } choisi (le serveur propose { $offered })
sendtest-step-client-cert-sent = le serveur en a demandé un ; envoyé { $cert }
sendtest-step-client-cert-not-asked = le serveur n'en a pas demandé (pas envoyé : { $cert })
sendtest-step-token = jeton d'accès obtenu de { $url }
sendtest-step-mailbox = { $mailbox } trouvée
sendtest-ok-accepted = { $hp } a accepté le message de test ({ $reply })
sendtest-ok-no-send = la connexion, le TLS et l'authentification auprès de { $hp } fonctionnent (rien envoyé : --no-send)
sendtest-ok-graph-no-send = le jeton et la boîte aux lettres fonctionnent (rien envoyé : --no-send)
sendtest-ok-graph-accepted = Microsoft Graph a accepté le message de test pour { $to } (une copie est dans Éléments envoyés)

## La console (pages et boutons).

console-title = console smarthost
console-nav-overview = Vue d'ensemble
console-nav-servers = Serveurs
console-nav-queue = File d'attente
console-nav-limits = Limites
console-nav-test-mode = Mode test
console-nav-blacklist = Liste noire
console-nav-journal = Journal
console-logout = Se déconnecter
console-login-title = Connexion
console-login-password = Mot de passe
console-login-button = Se connecter
console-login-wrong = Mot de passe incorrect.
console-login-banned = Trop de connexions échouées depuis cette adresse ; réessayez dans { $seconds } s.
console-login-no-password = Aucun mot de passe de console n'est défini : utilisez le lien à usage unique affiché au démarrage, ou définissez [console] password_hash (smarthost passwd en génère un).
console-test-mode-banner = MODE TEST ACTIVÉ : chaque message part uniquement à { $address }.
console-queue-counts = { $messages } en file : { $waiting } en attente, { $deferred } différés, { $limited } retenus par une limite, { $held } suspendus ; le plus ancien { $age }
console-upstream = Serveur
console-health = État
console-health-ok = fonctionne
console-health-failing = en échec
console-health-unknown = pas encore essayé
console-last-error = Dernière erreur
console-last-delivery = Dernier envoi
console-quota = Quota
console-used = { $used } sur { $limit } utilisés, { $left } restants
console-next-at = prochain à { $at }
console-paused-until = mis en pause par le fournisseur jusqu'à { $at }
console-connections = Connexions
console-chart-title = Les dernières 24 heures
console-chart-delivered = envoyés
console-chart-deferred = différés
console-chart-bounced = rejetés (retour)
console-chart-rejected = refusés à la réception
console-filter = Filtrer
console-sender = Expéditeur
console-recipient = Destinataire
console-state = État
console-any = tous
console-age = Âge
console-attempts = Essais
console-next-attempt = Prochain essai
console-retry = Réessayer maintenant
console-hold = Suspendre
console-release = Libérer
console-delete = Supprimer avec retour
console-delete-silent = Supprimer sans retour
console-queue-empty = La file d'attente est vide.
console-message-headers = En-têtes
console-message-history = Historique
console-reset = Réinitialiser les limites maintenant
console-reset-hint = Oublie l'utilisation comptée et toute pause du fournisseur ; le courrier retenu part maintenant.
console-no-limits = Aucun serveur n'a de limites.
console-test-mode-on = Mode test activé
console-test-mode-redirect = Envoyer chaque message à
console-save = Enregistrer
console-saved = Enregistré et appliqué.
console-blacklist-add = Ajouter
console-blacklist-remove = Retirer
console-blacklist-hint = Une adresse, @domaine (ce domaine) ou *.domaine (ses sous-domaines). Le courrier vers eux est refusé.
console-blacklist-empty = La liste noire est vide.
console-journal-live = Les nouveaux événements apparaissent en direct.
console-time = Heure
console-event = Événement
console-details = Détails
console-error = Non effectué : { $reason }

## La page Serveurs : la liste, le formulaire, le Tester.

console-server-name = Nom
console-server-preset = Préréglage
console-server-preset-none = (aucun : remplissez les champs)
console-server-host = Hôte
console-server-port = Port
console-server-conn = Sécurité de la connexion (CONN)
console-server-auth = Méthode d'authentification (AUTH)
console-server-username = Utilisateur
console-server-password = Mot de passe
console-server-password-is-set = défini
console-server-password-set = un mot de passe est défini ; laissez le champ vide pour le garder
console-server-ca-file = Fichier d'autorité (serveurs internes)
console-server-senders = Expéditeurs dirigés ici
console-server-default = Serveur par défaut
console-server-add = Ajouter un serveur
console-server-edit = Modifier
console-server-delete = Supprimer
console-server-delete-confirm = Supprimer le serveur { $name } ?
console-server-make-default = Définir par défaut
console-server-tester = Tester...
console-server-export-csv = Exporter en CSV
console-server-export-json = Exporter en JSON
console-server-new-title = Nouveau serveur
console-server-edit-title = Serveur { $name }
console-cancel = Annuler
console-tester-title = Test de { $name }
console-tester-to = Envoyer un message de test à
console-tester-hint = Sans adresse, seuls la connexion, le TLS et l'authentification sont testés ; rien n'est envoyé.
console-tester-run = Lancer le test
console-tester-running = Test en cours…
console-tester-step = Étape
console-tester-ok = OK
console-tester-failed = ÉCHEC
console-tester-error = Erreur
console-tester-fix = Solution
console-field-name = un nom de 1 à 64 lettres, chiffres, points, tirets ou soulignés, commençant par une lettre ou un chiffre
console-field-preset = ce n'est pas un préréglage de serveur SMTP (voir smarthost presets)
console-field-host = ce n'est ni un nom d'hôte ni une adresse IP
console-field-port = un port est un nombre de 1 à 65535
console-field-conn = CONN vaut auto, plaintext, ssl_tls ou starttls
console-field-auth = AUTH vaut auto, none, plain, login, cram_md5, ntlm, xoauth2 ou oauthbearer
console-field-username = un nom d'utilisateur a au plus 256 caractères, sans retour à la ligne
console-field-password = un mot de passe a au plus 1024 caractères, sans retour à la ligne
console-field-ca-file = aucun fichier de certificat lisible à cet emplacement
console-field-senders = des adresses (utilisateur@domaine) ou des domaines (domaine.ch), séparés par des espaces ou des virgules
console-field-address = ce n'est pas une adresse e-mail
console-server-exists = un serveur nommé { $name } existe déjà
console-server-unknown = il n'y a pas de serveur nommé { $name }
console-server-not-smtp = { $name } n'est pas un serveur SMTP : modifiez-le dans le fichier de configuration
console-server-delete-default = { $name } est le serveur par défaut : définissez d'abord un autre serveur par défaut
console-server-delete-used = { $name } est encore nommé par { $by } : modifiez-les d'abord
console-server-inline = les serveurs de ce fichier ne sont pas écrits en tables [[upstream]] : modifiez-les dans le fichier
console-server-untestable = { $name } ne peut pas être testé (aucun serveur SMTP ou Graph de ce nom)

## Quoi saisir comme mot de passe, par préréglage.

preset-advice-office365 = le mot de passe de la boîte aux lettres seulement tant que le tenant autorise SMTP AUTH avec l'authentification de base (désactivée par défaut pour les tenants existants dès fin décembre 2026) ; sinon auth = "xoauth2" avec un jeton OAuth2
preset-advice-gmail = un mot de passe d'application (il faut la validation en deux étapes), jamais celui du compte ; ou auth = "xoauth2" avec un jeton OAuth2
preset-advice-infomaniak = l'adresse e-mail complète comme utilisateur et le mot de passe de la boîte aux lettres
preset-advice-bluewin = l'adresse e-mail Bluewin comme utilisateur et son mot de passe
preset-advice-office365-graph = pas de mot de passe : une application Entra avec l'autorisation d'application Mail.Send (consentement administrateur), son secret client dans [upstream.oauth2]
preset-advice-office365-connector = pas de mot de passe : un connecteur entrant qui reconnaît l'adresse IP de ce bureau ou son certificat client (tls_client_cert) ; host = votre <domaine>.mail.protection.outlook.com
preset-advice-gmail-relay = aucun si le service de relais SMTP de la console d'administration Google autorise l'adresse IP de ce bureau ; sinon un utilisateur Workspace et un mot de passe d'application, avec « exiger l'authentification SMTP »
