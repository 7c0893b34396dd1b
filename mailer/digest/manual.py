""" "Send now" (issue 12 item 6): what an edition made now would carry, then make it and queue it.

Admins only (``send_to_list``, checked here). :func:`send_now_plan` counts what staff
confirm — subscribers it would reach (active, so confirmed, and not suppressed) and
stories it would carry (the same selection :func:`create_edition` makes). :func:`send_now`
then does what the digest job does when a schedule fires: create the edition and
queue it. Queueing is the delivery step's, which this step does not import: the caller
hands ``delivery.queue_edition`` in, as the job table is handed to the scheduler.
The ``digest.send_now`` audit row commits in the transaction that marks it queued.

Nothing is sent while another edition is still queued, sending or paused: its stories
are not "sent" yet, so a new edition would mail them again. A manual edition is keyed
("manual", the minute it was asked for), as ``mailer digest send`` keys it, so two
clicks racing in the same minute find one edition.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Connection

from mailer.digest.create import create_edition
from mailer.digest.select import select_stories, skip_reason
from mailer.errors import InvalidInputError
from mailer.models import EditionState
from mailer.roles import require
from mailer.store.audience import reachable_subscriber_count
from mailer.store.editions import unfinished_edition
from mailer.store.feeds import count_never_polled
from mailer.store.staff_sessions import append_audit

if TYPE_CHECKING:
    from mailer.context import AppContext

MANUAL = "manual"


class Sender(Protocol):
    email: str
    role: str


class QueueEdition(Protocol):
    """``delivery.queue_edition``: queue a draft, run ``on_queued`` in the marking transaction."""

    def __call__(
        self,
        ctx: AppContext,
        edition_id: int,
        /,
        *,
        on_queued: Callable[[Connection, int], None] | None = None,
    ) -> int: ...


@dataclass(frozen=True)
class SendNowPlan:
    """What staff confirm: who it reaches, how many stories; ``refusal`` says why it cannot go."""

    subscribers: int
    stories: int
    refusal: str | None = None


@dataclass(frozen=True)
class SentNow:
    """The edition: its number, whether this call queued it (else it was queued already), how many deliveries."""

    number: int | None
    fresh: bool
    queued: int
    plan: SendNowPlan


def send_now_plan(
    ctx: AppContext, account: Sender, /, *, now: datetime | None = None
) -> SendNowPlan:
    """How many subscribers and stories an edition made now would have (``send_to_list``)."""
    require(account, "send_to_list")
    now = now or datetime.now(UTC)
    with ctx.engine.connect() as conn:
        selection = select_stories(conn, ctx.settings, now=now)
        subscribers = reachable_subscriber_count(conn, ctx.keys)
        never_polled = count_never_polled(conn)
        unfinished = unfinished_edition(conn)
    refusal = None
    if unfinished is not None:
        # Its stories count as sent only once it is: a new edition would carry them again.
        number, state = unfinished
        refusal = (
            f"제{number}호가 아직 발송 중입니다({state}). 끝난 뒤에 다시 보내세요 / "
            f"edition {number} is still {state}; send again once it is done"
        )
    elif never_polled:
        refusal = (
            "아직 뉴스를 한 번도 수집하지 않아 보낼 기사가 없습니다 / no feed has been polled yet, "
            "so a new edition would carry no news"
        )
    elif (skipped := skip_reason(selection, ctx.settings)) is not None:
        refusal = skipped
    return SendNowPlan(subscribers=subscribers, stories=len(selection.stories), refusal=refusal)


def send_now(
    ctx: AppContext,
    account: Sender,
    /,
    *,
    queue: QueueEdition,
    client: str | None,
    now: datetime | None = None,
) -> SentNow:
    """Create the edition of this minute and queue it for every subscriber; audited ``digest.send_now``."""
    now = now or datetime.now(UTC)
    plan = send_now_plan(ctx, account, now=now)
    if plan.refusal:
        raise InvalidInputError(plan.refusal, field="send_now")
    edition = create_edition(
        ctx, schedule=MANUAL, scheduled_for=now.replace(second=0, microsecond=0), now=now
    )
    if edition.state == EditionState.SKIPPED:  # the news went between the plan and now
        raise InvalidInputError(edition.reason or "the edition was skipped", field="send_now")

    def record(conn: Connection, queued: int) -> None:
        append_audit(
            conn,
            at=now,
            actor=account.email,
            action="digest.send_now",
            client_address=client,
            target=f"edition {edition.number}",
            detail={
                "after": {
                    "edition": edition.number,
                    "subscribers": plan.subscribers,
                    "stories": len(edition.stories),
                    "deliveries_queued": queued,
                }
            },
        )

    queued = queue(ctx, edition.id, on_queued=record)
    # A draft is queued now; any other edition of this minute was queued by an earlier click.
    fresh = edition.state == EditionState.DRAFT
    return SentNow(number=edition.number, fresh=fresh, queued=queued, plan=plan)
