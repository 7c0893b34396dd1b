"""The Prometheus metrics: this process's own counters and histograms, and the families of the system's state read from the database.

A leaf: adapters and use cases get the :class:`ProcessMetrics` of their process from
the context (``ctx.metrics.get()``) or as a callable handed to them (the SMTP pool's
``observe``), and never import a use case to reach it. Each context has its own
``CollectorRegistry`` (not prometheus_client's global one), so tests can build several
contexts in one interpreter, and a process exposes only what happened in it.

The state of the whole system — deliveries by state per edition, queue depth,
backlogs, heartbeats, feed failures — is not counted here: it is read from the
database at scrape time (``mailer.metrics_readings``) and turned into metric families
by :func:`system_families`, so that any web process shows the same numbers however
many workers and schedulers run beside it. prometheus_client is imported on first use
(about 0.1 s), so a command that exposes no metrics never loads it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from prometheus_client import Metric

    from mailer.metrics_readings import SystemReadings

#: The reply classes of the SMTP latency histogram.
REPLY_CLASSES = ("2xx", "4xx", "5xx", "connection_error")

#: Seconds from the first command of a message to the relay's last reply (connecting included).
_SMTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
#: Seconds to select, render and insert one edition.
_BUILD_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


def reply_class(code: int | None, /) -> str:
    """``2xx``/``4xx``/``5xx`` for a reply code; ``connection_error`` when there was no reply."""
    if code is None or not 200 <= code < 600:
        return "connection_error"
    return f"{code // 100}xx" if code >= 400 else "2xx"


class ProcessMetrics:
    """The counters and histograms of one process, in that process's own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.smtp_reply_seconds = Histogram(
            "mailer_smtp_reply_seconds",
            "Time from a message's first SMTP command to the relay's final reply, by reply class.",
            ["reply"],
            buckets=_SMTP_BUCKETS,
            registry=self.registry,
        )
        self.messages_sent = Counter(
            "mailer_messages_sent_total",
            "Messages the relay accepted (250), by kind (digest or notice); rate() is messages/s.",
            ["kind"],
            registry=self.registry,
        )
        self.feed_polls = Counter(
            "mailer_feed_polls_total",
            "Feed fetches, by outcome (ok, not_modified, error).",
            ["status"],
            registry=self.registry,
        )
        self.edition_build_seconds = Histogram(
            "mailer_edition_build_seconds",
            "Time to select, render and store an edition, by the state it was created in.",
            ["state"],
            buckets=_BUILD_BUCKETS,
            registry=self.registry,
        )
        self.editions_resumed = Counter(
            "mailer_editions_resumed_total",
            "Paused editions this process resumed by itself once the relay answered again.",
            registry=self.registry,
        )
        # Every series exists from the start (at 0), so rate() sees the first event too.
        for reply in REPLY_CLASSES:
            self.smtp_reply_seconds.labels(reply=reply)
        for kind in ("digest", "notice"):
            self.messages_sent.labels(kind=kind)
        for status in ("ok", "not_modified", "error"):
            self.feed_polls.labels(status=status)

    def observe_smtp_reply(self, code: int | None, started: float, /) -> None:
        """One message's SMTP exchange ended with ``code`` (None: no reply); ``started`` is monotonic."""
        self.smtp_reply_seconds.labels(reply=reply_class(code)).observe(time.monotonic() - started)

    def text(self, *extra: Collector) -> bytes:
        """This process's metrics, and those of ``extra`` collectors, in the text format."""
        if not extra:
            return generate_latest(self.registry)
        scrape = CollectorRegistry(auto_describe=False)
        for collector in (self.registry, *extra):
            scrape.register(collector)
        return generate_latest(scrape)


class MetricsEndpoint:
    """A small HTTP server (prometheus_client's, in a thread) exposing one process's own metrics.

    For ``mailer worker --metrics-port`` and ``mailer scheduler --metrics-port``: their
    counters are not on the web's ``/metrics``, which only shows its own process and the
    database. Close it when the process stops.
    """

    def __init__(self, metrics: ProcessMetrics, /, *, host: str, port: int) -> None:
        from prometheus_client import start_http_server

        self._server, self._thread = start_http_server(port, addr=host, registry=metrics.registry)
        bound_host, bound_port = self._server.server_address[:2]
        shown = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
        self.url = f"http://{shown}:{bound_port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class SystemCollector(Collector):
    """The system's state from one :class:`SystemReadings`, as gauge families."""

    def __init__(self, readings: SystemReadings, /) -> None:
        self.readings = readings

    def describe(self) -> list[Metric]:
        # Names are not checked for clashes: the family names below are distinct.
        return []

    def collect(self) -> Iterator[Metric]:
        yield from system_families(self.readings)


def _gauge(name: str, documentation: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=labels)


def system_families(readings: SystemReadings, /) -> list[Metric]:
    """The database's view of the whole system: the same on every web process."""
    deliveries = _gauge(
        "mailer_deliveries",
        "Deliveries of an edition in each state (recent editions and every unfinished one).",
        ["edition", "edition_state", "state"],
    )
    for edition in readings.editions:
        for state, count in edition.by_state.items():
            deliveries.add_metric([edition.label, edition.state, state], count)
    queue = _gauge(
        "mailer_queue_depth",
        "Deliveries queued and not yet attempted, over editions that are sending.",
    )
    queue.add_metric([], readings.queue_depth)
    deferred = _gauge(
        "mailer_deferred_backlog",
        "Deliveries waiting for a retry after a temporary failure (paused editions included).",
    )
    deferred.add_metric([], readings.deferred_backlog)
    notices = _gauge("mailer_notice_backlog", "Notice mails not sent yet, by state.", ["state"])
    for state, count in readings.notice_backlog.items():
        notices.add_metric([state], count)
    overdue = _gauge(
        "mailer_overdue_mail",
        "Deliveries and notices due for longer than delivery.stuck_after.",
    )
    overdue.add_metric([], readings.overdue)
    paused = _gauge("mailer_paused_editions", "Editions paused by their error rate.")
    paused.add_metric([], len(readings.paused))
    ages = _gauge(
        "mailer_heartbeat_age_seconds",
        "Seconds since each scheduler and send worker process last recorded its heartbeat.",
        ["role", "instance"],
    )
    live = _gauge(
        "mailer_live_processes",
        "Schedulers and send workers whose heartbeat is younger than their stale_after.",
        ["role"],
    )
    counts = {"scheduler": 0, "worker": 0}
    for beat in readings.heartbeats:
        ages.add_metric([beat.role, beat.instance], beat.age_seconds)
        counts[beat.role] = counts.get(beat.role, 0) + (0 if beat.stale else 1)
    for role, count in sorted(counts.items()):
        live.add_metric([role], count)
    feed_failures = _gauge(
        "mailer_feed_consecutive_failures",
        "Failed polls in a row of each enabled feed (0 after a success).",
        ["feed_id", "feed"],
    )
    for feed in readings.feeds:
        feed_failures.add_metric([str(feed.id), feed.name], feed.failures)
    failing = _gauge("mailer_feeds_failing", "Enabled feeds whose last poll failed.")
    failing.add_metric([], sum(1 for feed in readings.feeds if feed.failures))
    return [
        deliveries,
        queue,
        deferred,
        notices,
        overdue,
        paused,
        ages,
        live,
        feed_failures,
        failing,
    ]
