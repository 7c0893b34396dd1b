"""Chaos: the whole system as separate processes against a failing relay loses nothing and sends nothing twice.

`mailer scheduler`, two `mailer worker` and `mailer serve --no-scheduler --no-worker`
run as OS processes on one database (issue 14 item 6). The relay (in this process)
answers 451 to a tenth of the messages, drops a hundredth of the connections after
DATA (the message kept, the reply lost) and refuses a known set of mailboxes with 550.
Meanwhile: the scheduler is killed before the digest's fire time and started again
after it; readers unsubscribe with one click on the web process while the edition
sends; a worker is SIGKILLed mid-send and restarted; the relay is stopped for a
while, so the edition pauses, and started again on the same port, so the edition
resumes by itself (item 4). The outcome is then held against what was injected.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from mailer.store import db
from mailer.store.db import write_transaction
from mailer.store.mail_queue import IN_FLIGHT_ERROR
from mailer.store.tables import editions, installation, schedules, subscribers, suppressions
from tests.chaos.topology import (
    CONNECTIONS,
    RESUMED,
    SCHEDULER_STARTED,
    WORKER_STARTED,
    chaos_env,
    kill,
    start,
    wait_until,
)
from tests.delivery_data import add_subscribers, delivery_rows
from tests.digest_data import week_of_news
from tests.helpers import link_token, pause_schedules, run_cli, start_serve, stop, wait_for_output
from tests.schedule_support import runs
from tests.support.chaos_relay import ChaosRelay

#: Final delivery states: nothing may be left queued, sending or deferred.
FINAL_STATES = {"sent", "failed", "unknown", "skipped"}


@dataclass(frozen=True)
class Scenario:
    subscribers: int
    refused: int  # mailboxes the relay refuses with 550
    unsubscribed: int  # readers who unsubscribe (one click) while the edition sends
    outage: float  # seconds the relay is stopped
    #: Wait for a real fire time (up to a minute); else the fire time is put in the past
    #: through the store, as if the scheduler had been down across it.
    real_fire_time: bool


SCENARIOS = {
    "postgresql": Scenario(5000, refused=20, unsubscribed=20, outage=20, real_fire_time=True),
    "sqlite": Scenario(1000, refused=5, unsubscribed=5, outage=10, real_fire_time=False),
}


def edition_ids(engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(editions.c.id).order_by(editions.c.id)).scalars())


def edition_state(engine, edition_id: int) -> str:
    with engine.connect() as conn:
        return conn.execute(select(editions.c.state).where(editions.c.id == edition_id)).scalar()


def schedule_digest(env, tmp_path, scheduler) -> datetime:
    """Set the digest's fire time a little ahead, then kill the scheduler before it. Returns it."""
    wait_until(lambda: datetime.now(UTC).second < 30, timeout=40, what="a minute's first 30 s")
    fire = (datetime.now(UTC) + timedelta(minutes=1)).replace(second=0, microsecond=0)
    cron = f"{fire.minute} {fire.hour} * * *"
    changed = run_cli(
        "schedules", "set", "digest", cron, "--timezone", "UTC", env=env, cwd=tmp_path
    )
    assert changed.returncode == 0, changed.stdout + changed.stderr
    # The running scheduler has taken the edit; then it dies before the fire time.
    wait_for_output(scheduler, _loaded(cron), timeout=30)
    kill(scheduler)
    assert datetime.now(UTC) < fire
    return fire


def backdate_digest(engine) -> datetime:
    """A fire time a minute ago, of a schedule set before it: missed while no scheduler ran."""
    fire = (datetime.now(UTC) - timedelta(minutes=1)).replace(second=0, microsecond=0)
    with write_transaction(engine) as conn:
        conn.execute(
            update(schedules)
            .where(schedules.c.name == "digest")
            .values(
                cron=f"{fire.minute} {fire.hour} * * *",
                timezone="UTC",
                updated_at=fire - timedelta(minutes=10),
            )
        )
    return fire


def _loaded(cron: str) -> re.Pattern[str]:
    return re.compile(rf"schedule digest: {re.escape(repr(cron))} in UTC, next")


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_chaos_loses_nothing_and_sends_nothing_twice(tmp_path, database_url):
    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    scenario = SCENARIOS[backend]
    began = time.monotonic()
    total = scenario.subscribers
    step = total // scenario.refused
    refused = {f"reader{i}@example.kr" for i in range(3, total, step)}
    assert len(refused) == scenario.refused
    relay = ChaosRelay(temp_failure_rate=0.10, drop_rate=0.01, refused=refused)
    relay.start()
    env = chaos_env(database_url, tmp_path, relay_port=relay.port)
    engine = db.make_engine(database_url)
    processes: list = []
    try:
        assert run_cli("init", env=env, cwd=tmp_path).returncode == 0
        pause_schedules(database_url, "poll", "reconfirm", "purge")

        # The scheduler: killed before the digest's fire time, started again after it.
        scheduler = start("scheduler", env=env, cwd=tmp_path, ready=SCHEDULER_STARTED)
        if scenario.real_fire_time:
            fire = schedule_digest(env, tmp_path, scheduler)
        else:
            kill(scheduler)
            fire = backdate_digest(engine)
        # While no scheduler runs: the readers, the week's news, the other processes.
        ids = add_subscribers(engine, total)
        with write_transaction(engine) as conn:
            week_of_news(conn, now=datetime.now(UTC))
        serve, base, _ = start_serve("--no-scheduler", "--no-worker", env=env, cwd=tmp_path)
        processes.append(serve)
        workers = [start("worker", env=env, cwd=tmp_path, ready=WORKER_STARTED) for _ in range(2)]
        processes += workers
        wait_until(lambda: datetime.now(UTC) > fire, timeout=90, what="the fire time to pass")
        processes.append(start("scheduler", env=env, cwd=tmp_path, ready=SCHEDULER_STARTED))

        [edition_id] = wait_until(
            lambda: [i for i in edition_ids(engine) if edition_state(engine, i) != "draft"],
            timeout=120,
            what="the edition of the fire time",
            processes=processes,
        )
        # One click on the web process, while the edition sends: the last readers queued.
        leaving = unsubscribe(engine, base, ids[-scenario.unsubscribed :])

        # A worker dies mid-send (SIGKILL) and is started again.
        wait_until(
            lambda: relay.copy_count() >= total * 0.15,
            timeout=120,
            what="15 % of the copies",
            processes=processes,
        )
        killed = workers[0]
        killed_output = kill(killed)
        processes.remove(killed)
        processes.append(start("worker", env=env, cwd=tmp_path, ready=WORKER_STARTED))

        # The relay goes away mid-send: the edition pauses itself.
        wait_until(
            lambda: relay.copy_count() >= total * 0.40,
            timeout=120,
            what="40 % of the copies",
            processes=processes,
        )
        relay.stop()
        down_at = time.monotonic()
        # The relay stays down until the edition has paused (a loaded box may take longer
        # than the outage), and for at least the outage: its length is the fault
        # injected, not evidence of anything.
        wait_until(
            lambda: edition_state(engine, edition_id) == "paused",
            timeout=90,
            what="the edition to pause while the relay is down",
            processes=processes,
        )
        paused_after = time.monotonic() - down_at
        time.sleep(max(0.0, down_at + scenario.outage - time.monotonic()))
        relay.start()

        # Nobody runs `digest resume`: the edition resumes by itself and completes.
        wait_until(
            lambda: edition_state(engine, edition_id) == "sent",
            timeout=240,
            what="the edition to complete",
            processes=processes,
            interval=0.2,
        )
    finally:
        outputs = [stop(process) for process in processes]
        relay.stop()
    # Every process still running stops cleanly (the killed worker aside).
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0 and "Traceback" not in output, output[-5000:]
    rows = delivery_rows(engine, edition_id)
    with engine.connect() as conn:
        edition_count = conn.execute(select(func.count()).select_from(editions)).scalar_one()
        statuses = dict(conn.execute(select(subscribers.c.email, subscribers.c.status)).all())
        suppressed = conn.execute(select(func.count()).select_from(suppressions)).scalar_one()
        part = conn.execute(select(installation.c.message_id_part)).scalar_one()
    engine.dispose()

    # Exactly one edition, from one run of the fire time.
    assert edition_count == 1
    assert [(row["fire_time"], row["outcome"]) for row in runs_of(database_url, fire)] == [
        (fire, "ran")
    ]
    # Every queued delivery ended in a final state.
    by_state = Counter(row["state"] for row in rows)
    assert set(by_state) <= FINAL_STATES, by_state
    assert sum(by_state[s] for s in FINAL_STATES) == len(rows) == total
    # Nobody got two copies; every copy is the reader's own Message-ID. The other mail
    # is the notice of the withdrawal's result (정보통신망법 제50조⑦) to who left.
    digest_id = f"<e{edition_id}.s"
    copies = [(mid, rcpt) for mid, rcpt in relay.copies if mid.startswith(digest_id)]
    notices = Counter(rcpt for mid, rcpt in relay.copies if not mid.startswith(digest_id))
    per_reader = Counter(rcpt for _, rcpt in copies)
    assert max(per_reader.values()) == 1, [r for r, n in per_reader.items() if n > 1][:5]
    expected_id = {
        row["email"]: f"{digest_id}{row['subscriber_id']}.{part}@example.or.kr>" for row in rows
    }
    wrong = [(mid, expected_id[rcpt]) for mid, rcpt in copies if mid != expected_id[rcpt]]
    assert not wrong, wrong[:3]
    sent = {row["email"] for row in rows if row["state"] == "sent"}
    unknown = [row for row in rows if row["state"] == "unknown"]
    assert sent <= set(per_reader), "a delivery recorded as sent reached the relay"
    assert set(per_reader) <= sent | {row["email"] for row in unknown}
    # Every unknown is explained: a reply the relay dropped or an outage cut, or a
    # message the killed worker had on the wire (at most one per connection).
    in_flight = [row for row in unknown if row["last_error"] == IN_FLIGHT_ERROR]
    injected = relay.injected
    assert len(in_flight) <= CONNECTIONS
    assert len(unknown) - len(in_flight) <= injected["dropped"] + relay.cut
    # The refused set failed and is suppressed; nothing else failed.
    # (One of them may have been on the wire at the SIGKILL or the outage: unknown.)
    failed = {row["email"]: row for row in rows if row["state"] == "failed"}
    refused_unknown = refused & {row["email"] for row in unknown}
    assert set(failed) == refused - refused_unknown
    assert {row["last_code"] for row in failed.values()} == {550}
    assert {statuses[email] for email in failed} == {"bounced"}
    assert suppressed >= len(failed)
    # Who unsubscribed while the edition was sending was skipped, and got nothing.
    skipped = {row["email"] for row in rows if row["state"] == "skipped"}
    assert skipped == leaving and not leaving & set(per_reader)
    assert set(notices) <= leaving and max(notices.values(), default=1) == 1, notices
    # The edition paused itself and resumed by itself.
    worker_logs = [*outputs, killed_output]
    # Both workers watched the relay; exactly one of them resumed the edition.
    resumes = [line for log in worker_logs for line in log.splitlines() if RESUMED.search(line)]
    assert len(resumes) == 1, resumes
    print(
        f"\nchaos {backend}: {time.monotonic() - began:.0f} s wall, {total} readers: "
        f"{dict(by_state)}; relay injected {dict(injected)}, cut {relay.cut} sessions at "
        f"the outage; {len(in_flight)} unknown in flight at the SIGKILL; paused "
        f"{paused_after:.1f} s into the outage"
    )


def runs_of(database_url: str, fire: datetime) -> list[dict]:
    engine = db.make_engine(database_url)
    try:
        return [row for row in runs(engine, "digest") if row["fire_time"] == fire]
    finally:
        engine.dispose()


def unsubscribe(engine, base: str, subscriber_ids: list[int]) -> set[str]:
    """RFC 8058 one-click POSTs to the web process; returns the addresses that left."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(subscribers).where(subscribers.c.id.in_(subscriber_ids))
        ).mappings()
        readers = [dict(row) for row in rows]
    with httpx.Client(timeout=30) as client:
        for row in readers:
            answer = client.post(
                f"{base}/unsubscribe/{link_token(row)}", data={"List-Unsubscribe": "One-Click"}
            )
            assert answer.status_code == 200, answer.text
    return {row["email"] for row in readers}
