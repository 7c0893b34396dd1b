"""``--metrics-port`` of the long-running commands: expose this process's own counters over HTTP while it runs.

The web's ``/metrics`` shows the system's state from the database and the counters of
the web process only; a separate ``mailer worker`` or ``mailer scheduler`` counts its
SMTP replies, sent messages, feed polls and edition builds in its own registry, which
this endpoint serves (README "Watching it run").
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer

from mailer.cli.output import say
from mailer.context import AppContext

METRICS_PORT = typer.Option(
    None,
    "--metrics-port",
    help="Serve this process's own metrics (Prometheus text) on this port; 0 picks a free one.",
)
METRICS_HOST = typer.Option(
    "127.0.0.1", "--metrics-host", help="Address the --metrics-port server listens on."
)


@contextlib.contextmanager
def process_metrics(context: AppContext, /, *, host: str, port: int | None) -> Iterator[None]:
    """While the block runs, serve the process's metrics on ``port`` (None: do nothing)."""
    if port is None:
        yield
        return
    from mailer.metrics import MetricsEndpoint

    endpoint = MetricsEndpoint(context.metrics.get(), host=host, port=port)
    say(f"metrics of this process on {endpoint.url}")
    try:
        yield
    finally:
        endpoint.close()
