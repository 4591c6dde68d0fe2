"""The pages' two languages: which one a request gets, and every sentence in both.

The language is the one the visitor picked with the switcher (`?lang=`, kept in a cookie), else
the first of French and English in their browser's Accept-Language, else English. Messages are
keys of MESSAGES; a key missing from one language is a bug that tests/api/pages catch.
"""

from __future__ import annotations

from starlette.requests import Request

LANGUAGES = ("en", "fr")
DEFAULT = "en"
COOKIE = "citygraph_lang"

MESSAGES: dict[str, dict[str, str]] = {
    "site": {"en": "citygraph: the city's data", "fr": "citygraph : les données de la ville"},
    "skip": {"en": "Skip to content", "fr": "Aller au contenu"},
    "nav": {"en": "Main", "fr": "Principal"},
    "home": {"en": "Home", "fr": "Accueil"},
    "datasets": {"en": "Datasets", "fr": "Jeux de données"},
    "developers": {"en": "Developers", "fr": "Développeurs"},
    "my_data": {"en": "My data", "fr": "Mes données"},
    "graphiql": {"en": "GraphiQL", "fr": "GraphiQL"},
    "language": {"en": "Language", "fr": "Langue"},
    "home_title": {"en": "What the city publishes", "fr": "Ce que la ville publie"},
    "home_intro": {
        "en": "One API for everything the city publishes or keeps. Open data is open to all; "
        "personal data is read only by the staff who need it, for a declared purpose, and every "
        "access is recorded where the people concerned can see it.",
        "fr": "Une seule API pour tout ce que la ville publie ou conserve. Les données ouvertes "
        "sont ouvertes à tous ; les données personnelles ne sont lues que par les agents qui en "
        "ont besoin, pour un motif déclaré, et chaque accès est consigné là où les personnes "
        "concernées peuvent le voir.",
    },
    "public_datasets": {"en": "Open datasets", "fr": "Jeux de données ouverts"},
    "restricted_datasets": {
        "en": "Personal datasets (restricted)",
        "fr": "Jeux de données personnelles (restreints)",
    },
    "department": {"en": "Department", "fr": "Service"},
    "rows": {"en": "Rows", "fr": "Lignes"},
    "loaded": {"en": "Last load", "fr": "Dernier chargement"},
    "never_loaded": {"en": "not loaded yet", "fr": "pas encore chargé"},
    "for_developers": {
        "en": "Building an app? Register it and get a token in one step.",
        "fr": "Vous créez une application ? Enregistrez-la et obtenez un jeton en une étape.",
    },
    "for_citizens": {
        "en": "Live in the city? See your records and who consulted them.",
        "fr": "Vous habitez la ville ? Consultez vos données et qui les a consultées.",
    },
    "for_explorers": {
        "en": "Ask your own questions in GraphiQL, with the whole schema documented.",
        "fr": "Posez vos propres questions dans GraphiQL, avec tout le schéma documenté.",
    },
    "catalog_title": {"en": "The catalog", "fr": "Le catalogue"},
    "catalog_intro": {
        "en": "Every dataset, with its licence and where its rows come from. Downloads work "
        "without JavaScript.",
        "fr": "Chaque jeu de données, avec sa licence et l'origine de ses lignes. Les "
        "téléchargements fonctionnent sans JavaScript.",
    },
    "publisher": {"en": "Publisher", "fr": "Éditeur"},
    "licence": {"en": "Licence", "fr": "Licence"},
    "attribution": {"en": "Attribution", "fr": "Attribution"},
    "frequency": {"en": "Update frequency", "fr": "Fréquence de mise à jour"},
    "coverage": {"en": "Coverage", "fr": "Couverture"},
    "origin": {"en": "Origin of the rows", "fr": "Origine des lignes"},
    "synthetic": {
        "en": "generated (synthetic) rows",
        "fr": "lignes générées (synthétiques)",
    },
    "source": {"en": "Source", "fr": "Source"},
    "access": {"en": "Access", "fr": "Accès"},
    "public": {"en": "public", "fr": "public"},
    "fields": {"en": "Fields", "fr": "Champs"},
    "field": {"en": "Field", "fr": "Champ"},
    "type": {"en": "Type", "fr": "Type"},
    "description": {"en": "Description", "fr": "Description"},
    "downloads": {"en": "Downloads", "fr": "Téléchargements"},
    "district": {"en": "Arrondissement", "fr": "Arrondissement"},
    "all_districts": {"en": "All arrondissements", "fr": "Tous les arrondissements"},
    "download": {"en": "Download", "fr": "Télécharger"},
    "format": {"en": "Format", "fr": "Format"},
    "map": {"en": "Map", "fr": "Carte"},
    "map_caption": {
        "en": "{shown} of {total} rows with a position, over the arrondissements.",
        "fr": "{shown} lignes positionnées sur {total}, sur les arrondissements.",
    },
    "map_label": {"en": "Map of {title}", "fr": "Carte : {title}"},
    "show_district": {"en": "Show", "fr": "Afficher"},
    "example_query": {"en": "Example query", "fr": "Exemple de requête"},
    "open_in_graphiql": {"en": "Open in GraphiQL", "fr": "Ouvrir dans GraphiQL"},
    "restricted_note": {
        "en": "The rows of this dataset are personal: only staff with the scope {scope} and a "
        "declared purpose read them, and the people concerned see who did.",
        "fr": "Les lignes de ce jeu sont personnelles : seuls les agents munis de la portée "
        "{scope} et d'un motif déclaré les lisent, et les personnes concernées voient qui l'a fait.",
    },
    "cite_title": {"en": "A cited answer", "fr": "Une réponse citée"},
    "cite_intro": {
        "en": "This answer was cited: the query below was run again on the very versions of the "
        "data it read, and its fingerprint compared with the one recorded then.",
        "fr": "Cette réponse a été citée : la requête ci-dessous a été relancée sur les versions "
        "mêmes des données qu'elle a lues, et son empreinte comparée à celle enregistrée alors.",
    },
    "cite_matches": {
        "en": "The answer is unchanged: same data, same SHA-256.",
        "fr": "La réponse est inchangée : mêmes données, même SHA-256.",
    },
    "cite_differs": {
        "en": "The answer computed now differs from the one cited.",
        "fr": "La réponse calculée aujourd'hui diffère de celle citée.",
    },
    "cite_url": {"en": "Permanent link", "fr": "Lien permanent"},
    "cite_created": {"en": "Cited on", "fr": "Citée le"},
    "cite_hash": {"en": "SHA-256 cited", "fr": "SHA-256 cité"},
    "cite_rerun_hash": {"en": "SHA-256 now", "fr": "SHA-256 aujourd'hui"},
    "cite_query": {"en": "Query", "fr": "Requête"},
    "cite_operation": {"en": "Operation:", "fr": "Opération :"},
    "cite_variables": {"en": "Variables", "fr": "Variables"},
    "cite_versions": {"en": "Data read", "fr": "Données lues"},
    "cite_dataset": {"en": "Dataset", "fr": "Jeu de données"},
    "cite_version": {"en": "Version", "fr": "Version"},
    "cite_rows": {"en": "Rows", "fr": "Lignes"},
    "cite_credit": {"en": "Attribution and licence", "fr": "Attribution et licence"},
    "cite_answer": {"en": "The answer", "fr": "La réponse"},
    "not_found": {"en": "Not found", "fr": "Introuvable"},
    "no_dataset": {"en": "There is no dataset named {name}.", "fr": "Aucun jeu nommé {name}."},
    "dev_title": {"en": "Developer portal", "fr": "Espace développeurs"},
    "dev_intro": {
        "en": "Register an app to get a client id and a secret. Your app exchanges them for a "
        "token (client credentials) and sends it in the Authorization header; apps get higher "
        "limits than anonymous callers. Self-registered apps read open data only.",
        "fr": "Enregistrez une application pour obtenir un identifiant et un secret. Votre "
        "application les échange contre un jeton (client credentials) et l'envoie dans l'en-tête "
        "Authorization ; les applications ont des limites plus hautes que les appels anonymes. "
        "Les applications enregistrées ici lisent les données ouvertes seulement.",
    },
    "app_name": {"en": "App name", "fr": "Nom de l'application"},
    "register": {"en": "Register the app", "fr": "Enregistrer l'application"},
    "client_id": {"en": "Client id", "fr": "Identifiant client"},
    "client_secret": {"en": "Client secret", "fr": "Secret client"},
    "secret_once": {
        "en": "Copy the secret now: it is shown once, and the city keeps only its hash.",
        "fr": "Copiez le secret maintenant : il n'est affiché qu'une fois, la ville n'en garde "
        "que l'empreinte.",
    },
    "get_token": {"en": "Get a token", "fr": "Obtenir un jeton"},
    "your_app": {"en": "Your app", "fr": "Votre application"},
    "standing": {"en": "Current standing", "fr": "Consommation actuelle"},
    "requests_left": {
        "en": "Requests: {remaining} of {limit} left in this window of {period} s (full again "
        "in {reset} s).",
        "fr": "Requêtes : {remaining} sur {limit} restantes dans cette fenêtre de {period} s "
        "(pleine à nouveau dans {reset} s).",
    },
    "budget_left": {
        "en": "Query cost: {remaining} of {limit} left in this window (full again in {reset} s).",
        "fr": "Coût des requêtes : {remaining} sur {limit} restant dans cette fenêtre (plein à "
        "nouveau dans {reset} s).",
    },
    "unlimited": {"en": "No limit for apps here.", "fr": "Pas de limite pour les applications."},
    "rotate": {"en": "Rotate the secret", "fr": "Changer le secret"},
    "rotate_note": {
        "en": "The old secret stops working at once; tokens already issued expire on their own.",
        "fr": "L'ancien secret cesse de fonctionner aussitôt ; les jetons déjà émis expirent "
        "d'eux-mêmes.",
    },
    "revoke": {"en": "Revoke the app", "fr": "Révoquer l'application"},
    "revoke_note": {
        "en": "No new tokens, and its live tokens are refused.",
        "fr": "Plus de nouveaux jetons, et ses jetons en cours sont refusés.",
    },
    "revoked": {"en": "The app is revoked.", "fr": "L'application est révoquée."},
    "manage_other": {
        "en": "Manage an app you registered earlier",
        "fr": "Gérer une application enregistrée auparavant",
    },
    "sign_in_app": {"en": "Open", "fr": "Ouvrir"},
    "forget_app": {"en": "Close this app", "fr": "Fermer cette application"},
    "docs": {"en": "Documentation", "fr": "Documentation"},
    "docs_schema": {"en": "The schema (SDL)", "fr": "Le schéma (SDL)"},
    "docs_oauth": {"en": "OAuth metadata", "fr": "Métadonnées OAuth"},
    "docs_catalog": {
        "en": "The catalog as DCAT-AP JSON-LD",
        "fr": "Le catalogue en DCAT-AP JSON-LD",
    },
    "bad_credentials": {
        "en": "That client id and secret do not match an active app.",
        "fr": "Cet identifiant et ce secret ne correspondent à aucune application active.",
    },
    "my_title": {"en": "My data", "fr": "Mes données"},
    "my_intro": {
        "en": "Sign in through the city's identity provider to see the records the city keeps "
        "about you, and every time someone consulted them: when, which department, why and "
        "which datasets. Never who: staff names are not shown.",
        "fr": "Connectez-vous auprès du fournisseur d'identité de la ville pour voir les données "
        "que la ville conserve sur vous, et chaque consultation : quand, quel service, pourquoi "
        "et quels jeux de données. Jamais qui : le nom des agents n'est pas affiché.",
    },
    "sign_in": {"en": "Sign in", "fr": "Se connecter"},
    "sign_out": {"en": "Sign out", "fr": "Se déconnecter"},
    "signed_in_until": {
        "en": "Signed in until {until} (UTC).",
        "fr": "Connecté jusqu'à {until} (UTC).",
    },
    "my_records": {"en": "Your records", "fr": "Vos données"},
    "no_records": {"en": "No records.", "fr": "Aucune donnée."},
    "who_consulted": {"en": "Who consulted them", "fr": "Qui les a consultées"},
    "when": {"en": "When (UTC)", "fr": "Quand (UTC)"},
    "departments": {"en": "Departments", "fr": "Services"},
    "purpose": {"en": "Purpose", "fr": "Motif"},
    "no_history": {
        "en": "Nobody has consulted your records.",
        "fr": "Personne n'a consulté vos données.",
    },
    "signin_unavailable": {
        "en": "Sign-in is not available: this city has no identity provider configured.",
        "fr": "La connexion n'est pas disponible : aucun fournisseur d'identité n'est configuré.",
    },
    "signin_failed": {"en": "Sign-in failed", "fr": "Échec de la connexion"},
    "demo_title": {"en": "Demo sign-in", "fr": "Connexion de démonstration"},
    "demo_intro": {
        "en": "This demo city has no identity provider, so pick a synthetic resident to sign in "
        "as. A real city signs people in at its own provider; this page does not exist in "
        "production.",
        "fr": "Cette ville de démonstration n'a pas de fournisseur d'identité : choisissez un "
        "habitant synthétique. Une vraie ville connecte les personnes par son propre "
        "fournisseur ; cette page n'existe pas en production.",
    },
    "resident": {"en": "Resident", "fr": "Habitant"},
    "resident_id": {"en": "Resident id", "fr": "Identifiant d'habitant"},
    "continue": {"en": "Sign in as this resident", "fr": "Se connecter comme cet habitant"},
    "cancel": {"en": "Cancel", "fr": "Annuler"},
    "error": {"en": "Error", "fr": "Erreur"},
    "try_again": {"en": "Try again", "fr": "Réessayer"},
    "graphiql_missing": {
        "en": "GraphiQL's files are not installed. They are fetched when the project is built: "
        "run `uv sync --reinstall-package citygraph`.",
        "fr": "Les fichiers de GraphiQL ne sont pas installés. Ils sont récupérés à la "
        "construction du projet : lancez `uv sync --reinstall-package citygraph`.",
    },
    "graphiql_noscript": {
        "en": "GraphiQL needs JavaScript. Without it, the catalog and its downloads still work.",
        "fr": "GraphiQL a besoin de JavaScript. Sans lui, le catalogue et ses téléchargements "
        "fonctionnent.",
    },
}


def negotiate(request: Request) -> str:
    """The language of the page: the switcher's choice, else Accept-Language, else English."""
    chosen = request.query_params.get("lang") or request.cookies.get(COOKIE)
    if chosen in LANGUAGES:
        return chosen
    best, best_q = DEFAULT, 0.0
    for part in request.headers.get("accept-language", "").split(","):
        tag, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        language = tag.split("-")[0].lower()
        if language in LANGUAGES and q > best_q:
            best, best_q = language, q
    return best


def translate(language: str, key: str, **values: object) -> str:
    """The message `key` in `language`, with `{name}` placeholders filled in."""
    text = MESSAGES[key][language]
    return text.format(**values) if values else text
