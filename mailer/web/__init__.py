"""The HTTP entry point: one FastAPI app over the use-case functions.

One job: turn HTTP requests into use-case calls and their results (or errors) into
pages, status codes and headers. Today the public pages — signup and double opt-in
(``signup``), one-click unsubscribe and preferences (``unsubscribe``), the archive
and seminar calendars (``archive``), ``/healthz`` and the development ``/outbox``;
later the staff admin (``/admin``) and the JSON API (``/api/v1``). ``app.create_app``
builds the app; ``server.serve_forever`` runs it under uvicorn for ``mailer serve``.

May import: the leaves (config, errors, models, context), the use-case packages'
public names (``from mailer import subscribers``), bootstrap, and
``mail.outbox`` for the development outbox. Never ``mailer.store``, and no input
validation of its own: a use case raises InvalidSubscriberInput and the web only words
its ``problems``. Nothing outside ``web`` imports it, so FastAPI and uvicorn load only
when ``mailer serve`` runs.
"""
