"""The subscribers step: who receives the digest, with their consent on record.

One job: every change to a subscriber — signup and double opt-in, unsubscribe,
pause, profile, import, erasure, re-confirmation — written together with its
consent-ledger entry and the notice mail the law asks for.

May import: the leaves (config, errors, models, context), ``store``, ``render``
(notice templates) and ``mail`` (MIME). Other packages use only the names below.
"""

from mailer.exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        # lifecycle
        "ConfirmResult": "lifecycle",
        "ConfirmState": "lifecycle",
        "SignupOutcome": "lifecycle",
        "add_subscriber": "lifecycle",
        "check_confirmation": "lifecycle",
        "confirm": "lifecycle",
        "set_paused": "lifecycle",
        "signup": "lifecycle",
        "subscriber_for_token": "lifecycle",
        "unsubscribe": "lifecycle",
        "unsubscribe_address": "lifecycle",
        "update_profile": "lifecycle",
        # erasure
        "erase": "erasure",
        "personal_data": "erasure",
        "purge_expired": "erasure",
        # re-confirmation and notices
        "send_due_reconfirmations": "reconfirm",
        "deliver_notices": "notices",
        "build_notice": "notices",
        # reading
        "iter_subscribers": "listing",
        "notice_counts": "listing",
        "status_counts": "listing",
        # import
        "check_header": "importing",
        "import_rows": "importing",
        # consent texts
        "consent_history": "consent",
        "current_consent_text": "consent",
        "export_consent_events": "consent",
        "register_consent_text": "consent",
        # validation of subscriber fields (the web's forms show each problem by its field)
        "PROBLEM_TEXT": "validation",
        "Problem": "validation",
        "check_subscriber": "validation",
    },
)
