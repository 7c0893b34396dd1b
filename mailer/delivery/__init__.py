"""The delivery step: the one way mail leaves — digest deliveries and notices, sent by one worker with one retry policy.

One job: take queued mail (an edition's ``deliveries``, the ``notices`` of the
subscribers step), send it over a pool of SMTP connections, record each outcome
(sent, deferred and retried with backoff, failed, unknown) and recover what a dead
worker had in flight. Modules: worker (the loop; ``run_worker``, ``deliver_notices``),
senders (one task per SMTP connection), editions (the digest side: claims, prepared
mail, pausing), auto_resume (resuming an edition paused by relay failures once the
relay answers again), outgoing (claimed messages into bytes), books (one transaction per
tick), liveness (registry, heartbeat, recovery), retry (the one retry policy), queue
(queueing an edition, the staff commands), status (what staff see), test_mail
(one test message over the worker's kind of connection).

May import: the leaves (config, errors, models, context, retry), ``store`` and ``mail``.
It sends notices without importing the subscribers step: their builder comes in as
``ctx.build_notice`` (bootstrap). Other packages use only the names below.
"""

from mailer.exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        # queueing and staff commands
        "queue_edition": "queue",
        "delivery_counts": "queue",
        "resume_edition": "queue",
        "resend_unknown": "queue",
        "recover_in_flight": "queue",
        "new_worker_id": "queue",
        "QUEUE_BATCH": "queue",
        # what staff see
        "EditionStatus": "status",
        "audience_size": "status",
        "edition_id_for": "status",
        "edition_status": "status",
        "recent_editions": "status",
        # the worker
        "WorkerSummary": "outgoing",
        "NoticeTally": "outgoing",
        "run_worker": "worker",
        "deliver_notices": "worker",
        # checking the mail path
        "send_test_mail": "test_mail",
        "send_test_edition": "test_edition",
        # the retry policy
        "RetryPolicy": "retry",
        "HARD_BOUNCE_CODES": "retry",
    },
)
