"""The mail adapter: MIME messages, prepared digest bytes, DKIM, SMTP connections and pool, the built-in outbox.

One job: turn what the steps want to send into bytes on an SMTP connection — compose
a notice or test mail (message), encode an edition once and personalise it per
recipient (prepared), sign (dkim), talk to the relay (smtp, pool) — and, without a
relay, receive the mail locally (outbox). It decides nothing about retries: that is
the delivery step's policy.

May import: the leaves (config, errors, models). Other packages use only the names below.
"""

from mailer.exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        # composing and serialising (notices, test mail)
        "compose": "message",
        "message_bytes": "message",
        "needs_smtputf8": "message",
        "smtp_address": "message",
        "wire_bytes": "message",
        # digests: encoded once, personalised per recipient
        "PreparedEdition": "prepared",
        "Recipient": "prepared",
        "personalise": "prepared",
        "prepare_edition": "prepared",
        "qp_encode": "prepared",
        # DKIM
        "DkimSigner": "dkim",
        "load_dkim": "dkim",
        # SMTP
        "open_connection": "smtp",
        "relay_address": "smtp",
        "probe_relay": "smtp",
        "RelayConnection": "pool",
        "SmtpPool": "pool",
        "TokenBucket": "pool",
        # the built-in outbox
        "Outbox": "outbox",
        "OutboxMail": "outbox",
        "OutboxMessage": "outbox",
        "list_outbox": "outbox",
        "read_outbox_mail": "outbox",
        "read_outbox_message": "outbox",
        "start_outbox": "outbox",
    },
)
