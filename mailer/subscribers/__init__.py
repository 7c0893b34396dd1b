"""The subscribers step: who receives the digest, with their consent on record.

One job: every change to a subscriber — signup and double opt-in (``opt_in``),
unsubscribe, pause, profile (``preferences``), import, erasure, re-confirmation —
written together with its consent-ledger entry and the notice mail the law asks for.
Input is validated here (``validation``), once for the web, the CLI and imports:
a bad field raises InvalidSubscriberInput whose ``problems`` entry points word.

May import: the leaves (config, errors, models, context), ``store``, ``render``
(notice templates) and ``mail`` (MIME). Other packages use only the names below.
"""

from mailer.exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        # signup and double opt-in
        "ConfirmResult": "opt_in",
        "ConfirmState": "opt_in",
        "SignupOutcome": "opt_in",
        "add_subscriber": "opt_in",
        "check_confirmation": "opt_in",
        "confirm": "opt_in",
        "signup": "opt_in",
        # after the signup: unsubscribe, pause, profile
        "set_paused": "preferences",
        "subscriber_for_token": "preferences",
        "unsubscribe": "preferences",
        "unsubscribe_address": "preferences",
        "update_profile": "preferences",
        # a link that could not be verified: the unsubscribe link mailed by address
        "request_unsubscribe_link": "unsubscribe_link",
        "unsubscribe_token_known": "unsubscribe_link",
        # data download and erasure, through a link mailed on request
        "request_data_link": "data_access",
        "data_access_holder": "erasure",
        "erase": "erasure",
        "personal_data": "erasure",
        "purge_expired": "erasure",
        # re-confirmation and notices
        "send_due_reconfirmations": "reconfirm",
        "build_notice": "notices",
        # reading
        "NoticeCounts": "listing",
        "SubscriberView": "listing",
        "export_table": "listing",
        "iter_subscribers": "listing",
        "notice_counts": "listing",
        "status_counts": "listing",
        # import
        "check_header": "importing",
        "import_csv_file": "importing",
        "import_rows": "importing",
        # signup material for posters and other sites
        "signup_form_snippet": "outreach",
        "signup_qr": "outreach",
        "signup_source": "outreach",
        "signup_url": "outreach",
        # consent texts
        "consent_history": "consent",
        "current_consent_text": "consent",
        "export_consent_events": "consent",
        "register_consent_text": "consent",
        # validation of subscriber fields (the web's forms show each problem by its field)
        "FIELD_LIMITS": "validation",
        "PROBLEM_TEXT": "validation",
        "Problem": "validation",
        "check_subscriber": "validation",
    },
)
