"""How an edition picks its stories: recent relevant stories not sent before, grouped into sections.

The rules, in order:

1. Candidates are the stories the poll step marked relevant, published within
   ``digest.max_age_days`` before the edition is made, and not part of an edition
   already sent (every member of a sent cluster counts as sent).
2. Near-duplicates are one entry, shown by the best-ranked member, the other
   outlets listed as "also reported by" (함께 보도): equal headlines once desk tags
   and outlet names are removed (one ``cluster_key``, joined by the store), and
   reworded reprints of the same news (:mod:`mailer.digest.clusters`).
3. Entries rank by relevance, then recency; at most ``digest.max_stories`` are kept.
4. Each entry goes to the configured section its keywords match best, unmatched
   ones to the fallback section (:mod:`mailer.digest.sections`).

Stories stored before the poll step removed control, bidi and zero-width characters
(issue 11) are cleaned here, so that no template, subject or frozen story list of an
edition carries them, whatever the database holds.

With nothing selected and ``digest.send_when_empty`` false, the edition is skipped,
and :func:`skip_reason` says why in words staff read in ``digest status``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Connection

from mailer.config import Settings
from mailer.digest.clusters import merge_near_duplicates
from mailer.digest.sections import Section, group_into_sections
from mailer.models import StoryView
from mailer.store.stories import select_candidates
from mailer.unsafe_text import quote_unsafe, strip_unsafe


@dataclass(frozen=True, slots=True)
class Selection:
    """The stories chosen for one edition, in sections, and the moment they were chosen from."""

    since: datetime
    sections: list[Section]

    @property
    def stories(self) -> list[StoryView]:
        """Every selected story in edition order (section by section)."""
        return [story for section in self.sections for story in section.stories]


def select_stories(conn: Connection, settings: Settings, /, *, now: datetime) -> Selection:
    """Choose and group the stories of an edition made at ``now`` (rules in the module docstring)."""
    digest = settings.digest
    since = now - timedelta(days=digest.max_age_days)
    entries = merge_near_duplicates(select_candidates(conn, since=since))
    candidates = [_cleaned(story) for story in entries[: digest.max_stories]]
    sections = group_into_sections(
        candidates, sections=digest.sections, fallback=digest.fallback_section
    )
    return Selection(since=since, sections=sections)


def _cleaned(story: StoryView) -> StoryView:
    """The story without the characters outside text must not carry (``mailer.unsafe_text``)."""
    return replace(
        story,
        title=strip_unsafe(story.title),
        url=quote_unsafe(story.url),
        source=strip_unsafe(story.source),
        summary=strip_unsafe(story.summary, allow="\n\t"),
        also_reported_by=tuple(strip_unsafe(name) for name in story.also_reported_by),
    )


def skip_reason(selection: Selection, settings: Settings, /) -> str | None:
    """Why an edition with this selection is skipped; None when it is to be sent."""
    if selection.stories or settings.digest.send_when_empty:
        return None
    since = selection.since.astimezone(settings.zone)
    return (
        f"새 소식 없음 — no relevant stories since {since:%Y-%m-%d %H:%M} "
        f"({settings.timezone}); digest.send_when_empty is false"
    )
