package console

// words are the console's texts, French and English; a key missing in a
// language falls back to English, then to the key (a test checks that
// both languages have every key).
var words = map[string]map[string]string{
	"fr": {
		"title": "Sauvegardes PostgreSQL", "overview": "Vue d'ensemble", "backups": "Sauvegardes", "audit": "Journal d'audit",
		"logout": "Déconnexion", "login": "Connexion", "token": "Jeton (statique ou JWT de la plateforme)", "sign_in": "Se connecter",
		"refused": "Jeton refusé.", "sso_login": "Se connecter avec le SSO", "sso_down": "Le fournisseur d'identité est injoignable : connectez-vous avec un jeton.", "sso_refused": "Connexion SSO refusée : recommencez depuis cette page.", "sso_no_role": "Votre compte n'a aucun rôle dans rgz-backup : demandez-le à l'administrateur de la plateforme.", "enter": "Entrer dans la console", "stale_login": "Formulaire expiré ou venu d'un autre site : connectez-vous depuis cette page.", "throttled": "Trop d'échecs de connexion depuis cette adresse : réessayez dans quelques minutes.", "err_logout": "Déconnexion impossible pour l'instant (catalogue injoignable) : la session est toujours ouverte, réessayez.", "database": "Base", "state": "État", "last_backup": "Dernière sauvegarde", "age": "Âge",
		"size": "Taille", "status": "Statut", "file": "Fichier", "next_run": "Prochaine exécution", "disk": "Disque",
		"used": "utilisé", "free": "libre", "destinations": "Destinations", "copies": "copies", "failing": "en échec",
		"last_test": "Dernier test de restauration", "rto": "durée (RTO)", "start_backup": "Lancer une sauvegarde",
		"start_test": "Lancer un test de restauration", "none": "aucune", "date": "Date", "duration": "Durée",
		"triggered_by": "Déclenchée par", "filter": "Filtrer", "days": "Jours", "any": "tous", "next_page": "Page suivante",
		"checksums": "Sommes de contrôle", "retention": "Rétention", "until": "jusqu'au", "error": "Erreur", "tests": "Tests de restauration",
		"at": "Date", "client": "Adresse", "subject": "Utilisateur", "role": "Rôle", "action": "Action", "result": "Résultat", "detail": "Détail",
		"done_backup": "Sauvegarde mise en file.", "done_restore-test": "Test de restauration mis en file.",
		"err_session": "Session absente ou expirée : reconnectez-vous.", "err_csrf": "Requête refusée (jeton CSRF manquant ou faux).",
		"err_forbidden": "Votre rôle ne permet pas cette action.", "err_not_found": "Introuvable.", "err_internal": "Erreur interne : voir le journal du démon.",
		"err_conflict": "Un test de restauration est déjà en cours.", "back": "Retour", "report": "Rapport", "err_bad_query": "Filtre invalide.", "copies_title": "Copies", "download": "Télécharger", "mismatches": "Différences", "no_mismatch": "Aucune : chaque table et chaque nombre de lignes correspondent.", "backup": "Sauvegarde", "mode": "Mode", "running_now": "En cours", "read": "Lu", "written": "Écrit", "rate": "Débit", "elapsed": "Écoulé",
		"nothing_running": "Aucune sauvegarde en cours.", "charts": "Graphiques", "size_90": "Taille par jour (90 jours)", "duration_90": "Durée par jour (90 jours)",
		"test_durations": "Durée des tests de restauration", "calendar": "Calendrier (12 mois)", "good": "bonne", "suspect": "suspecte",
		"failed_day": "échec", "no_backup": "aucune sauvegarde", "compliance": "copie de conformité",
		"pitr": "Restauration à un instant", "pitr_window": "Fenêtre restaurable (30 jours ; traits : sauvegardes de base)", "pitr_oldest": "du", "pitr_newest": "au",
		"last_pitr_test": "Dernier test de restauration à un instant", "start_pitr_test": "Tester la restauration à un instant", "pitr_moment": "Instant (RFC 3339, vide : tiré au sort)",
		"done_pitr-test": "Test de restauration à un instant mis en file.", "err_pitr_off": "Aucune archive de restauration à un instant ici.", "err_bad_moment": "Instant invalide : RFC 3339, par exemple 2026-12-06T14:03:00Z.",
		"cluster": "Cluster", "err_bad_target": "Plusieurs serveurs archivent : choisissez-en un.", "err_untestable": "Aucun test ne peut restaurer cet instant : hors de la fenêtre, ou trop près de sa fin.", "pitr_target": "Serveur",
	},
	"en": {
		"title": "PostgreSQL backups", "overview": "Overview", "backups": "Backups", "audit": "Audit log",
		"logout": "Log out", "login": "Log in", "token": "Token (static or platform JWT)", "sign_in": "Log in",
		"refused": "Token refused.", "sso_login": "Log in with SSO", "sso_down": "The identity provider cannot be reached: log in with a token.", "sso_refused": "Single sign-on refused: start again from this page.", "sso_no_role": "Your account has no role in rgz-backup: ask the platform's administrator for one.", "enter": "Enter the console", "stale_login": "This form expired or came from another site: log in from this page.", "throttled": "Too many failed logins from this address: try again in a few minutes.", "err_logout": "Could not log out now (the catalog is unreachable): the session is still open, try again.", "database": "Database", "state": "State", "last_backup": "Last backup", "age": "Age",
		"size": "Size", "status": "Status", "file": "File", "next_run": "Next run", "disk": "Disk",
		"used": "used", "free": "free", "destinations": "Destinations", "copies": "copies", "failing": "failing",
		"last_test": "Last restore test", "rto": "duration (RTO)", "start_backup": "Start a backup",
		"start_test": "Start a restore test", "none": "none", "date": "Date", "duration": "Duration",
		"triggered_by": "Triggered by", "filter": "Filter", "days": "Days", "any": "any", "next_page": "Next page",
		"checksums": "Checksums", "retention": "Retention", "until": "until", "error": "Error", "tests": "Restore tests",
		"at": "Date", "client": "Address", "subject": "User", "role": "Role", "action": "Action", "result": "Result", "detail": "Detail",
		"done_backup": "Backup queued.", "done_restore-test": "Restore test queued.",
		"err_session": "No session, or it expired: log in again.", "err_csrf": "Request refused (CSRF token missing or wrong).",
		"err_forbidden": "Your role may not do this.", "err_not_found": "Not found.", "err_internal": "Internal error: see the daemon's log.",
		"err_conflict": "A restore test is already running.", "back": "Back", "report": "Report", "err_bad_query": "Invalid filter.", "copies_title": "Copies", "download": "Download", "mismatches": "Differences", "no_mismatch": "None: every table and row count matches.", "backup": "Backup", "mode": "Mode", "running_now": "Running now", "read": "Read", "written": "Written", "rate": "Rate", "elapsed": "Elapsed",
		"nothing_running": "No backup running.", "charts": "Charts", "size_90": "Size per day (90 days)", "duration_90": "Duration per day (90 days)",
		"test_durations": "Restore test durations", "calendar": "Calendar (12 months)", "good": "good", "suspect": "suspect",
		"failed_day": "failed", "no_backup": "no backup", "compliance": "compliance copy",
		"pitr": "Point-in-time recovery", "pitr_window": "Restorable window (30 days; ticks: base backups)", "pitr_oldest": "from", "pitr_newest": "to",
		"last_pitr_test": "Last point-in-time restore test", "start_pitr_test": "Test point-in-time recovery", "pitr_moment": "Moment (RFC 3339; empty: drawn)",
		"done_pitr-test": "Point-in-time restore test queued.", "err_pitr_off": "No point-in-time recovery archive here.", "err_bad_moment": "Invalid moment: RFC 3339, for example 2026-12-06T14:03:00Z.",
		"cluster": "Cluster", "err_bad_target": "Several servers stream: choose one.", "err_untestable": "No test can restore this moment: outside the window, or too close to its end.", "pitr_target": "Server",
	},
}

// translate is the template function t: the text of key in lang.
func translate(lang, key string) string {
	if s, ok := words[lang][key]; ok {
		return s
	}
	if s, ok := words["en"][key]; ok {
		return s
	}
	return key
}
