"""What went wrong with single items of a feed, kept as the feed's warnings for staff.

One bad item never fails its feed: a date that cannot be read costs only the date,
an item that cannot be read at all costs only that item (issue 13). Each such loss
is written down here, naming the item, and shown with the feed (``mailer feeds
list``), replaced at every poll that reads the feed again.
"""

from __future__ import annotations

from collections.abc import Mapping

from mailer.unsafe_text import strip_unsafe

#: Warnings kept per feed; the rest are counted in one last line.
MAX_WARNINGS = 10
#: Longest warning kept (a hostile feed must not fill the feeds table).
MAX_WARNING_LENGTH = 300


class ItemWarnings:
    """Collects one poll's item warnings; :meth:`lines` gives what is stored.

    Only the first :data:`MAX_WARNINGS` are kept (a feed of 10 000 broken items must
    not carry 10 000 lines between processes); the rest are counted.
    """

    def __init__(self, carried: tuple[str, ...] = (), *, total: int | None = None) -> None:
        self._lines: list[str] = list(carried[:MAX_WARNINGS])
        self.total = len(carried) if total is None else total

    def add(self, label: str, problem: str) -> None:
        self.total += 1
        if len(self._lines) < MAX_WARNINGS:
            line = f"{label}: {problem}"
            if len(line) > MAX_WARNING_LENGTH:
                line = line[: MAX_WARNING_LENGTH - 1] + "…"
            self._lines.append(line)

    def kept(self) -> tuple[str, ...]:
        """The warnings kept, without the count of the others (to carry on with ``total``)."""
        return tuple(self._lines)

    def lines(self) -> tuple[str, ...]:
        """What staff see: the first warnings and, past :data:`MAX_WARNINGS`, how many more."""
        if self.total <= MAX_WARNINGS:
            return tuple(self._lines)
        kept = self._lines[: MAX_WARNINGS - 1]
        return (*kept, f"… and {self.total - len(kept)} more item warnings")


def item_label(raw: Mapping, position: int) -> str:
    """How staff can find an item in the feed: its position and its title, link or guid."""
    for name in ("title", "link", "id"):
        value = raw.get(name)
        if isinstance(value, str):
            value = " ".join(strip_unsafe(value).split())
            if value:
                shown = value if len(value) <= 60 else value[:59] + "…"
                return f'item {position} "{shown}"'
    return f"item {position}"
