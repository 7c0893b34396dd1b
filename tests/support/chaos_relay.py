"""A fault-injecting relay for the chaos test: random 451s, connections dropped after DATA, a refused set, outages.

Built on :class:`FaultySMTPServer`'s fault queue with standing faults (``times=None``)
whose filters draw from a seeded random generator and count what they did, so the
test can hold the outcome against what was injected::

    relay = ChaosRelay(temp_failure_rate=0.10, drop_rate=0.01, refused={"x@example.kr"})
    relay.start()
    ...
    relay.stop()          # an outage: every open session is cut (counted in relay.cut)
    relay.start()         # back on the same port
    relay.copies          # (Message-ID, recipient) of every message the relay kept

It keeps only the Message-ID and recipient of each message (thousands of digests
would cost hundreds of megabytes), and counts, per kind, the faults it injected.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable

from tests.support.smtp_server import FaultySMTPServer, ReceivedMessage

__all__ = ["ChaosRelay"]

_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)


class ChaosRelay(FaultySMTPServer):
    """A relay that fails at random, at fixed rates, and refuses a known set of mailboxes with 550."""

    def __init__(
        self,
        *,
        temp_failure_rate: float,
        drop_rate: float,
        refused: Iterable[str] = (),
        seed: int = 14,
    ) -> None:
        super().__init__()
        self.refused = frozenset(refused)
        self._random = random.Random(seed)
        self._counts: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        self._copies: list[tuple[str, str]] = []
        #: Sessions open when the relay was stopped: each may have been cut mid-message.
        self.cut = 0
        # Faults are consulted in order: a mailbox in the refused set is refused at RCPT;
        # a message is first given the chance to lose its reply, then a 451.
        self.fail(
            "RCPT", 550, "5.1.1 no such mailbox", times=None, when=self._counting("refused", 1.0)
        )
        self.drop("DATA", after_accept=True, times=None, when=self._counting("dropped", drop_rate))
        self.fail(
            "DATA", 451, "4.3.0 try again later", times=None,
            when=self._counting("deferred", temp_failure_rate),
        )  # fmt: skip

    def _counting(self, kind: str, rate: float) -> Callable[[str], bool]:
        """A fault filter that fires with probability ``rate`` and counts each time it fires."""

        def decide(address: str) -> bool:
            # Called on the relay thread, under the server's lock.
            if kind == "refused" and address not in self.refused:
                return False
            if rate < 1.0 and self._random.random() >= rate:
                return False
            with self._count_lock:
                self._counts[kind] += 1
            return True

        return decide

    @property
    def injected(self) -> Counter[str]:
        """Faults injected so far: ``refused`` (550 at RCPT), ``dropped`` (after DATA), ``deferred`` (451)."""
        with self._count_lock:
            return Counter(self._counts)

    @property
    def copies(self) -> list[tuple[str, str]]:
        """(Message-ID, recipient) of every message kept, in arrival order."""
        with self._count_lock:
            return list(self._copies)

    def copy_count(self) -> int:
        with self._count_lock:
            return len(self._copies)

    def _record_message(self, message: ReceivedMessage) -> None:
        found = _MESSAGE_ID.search(message.data)
        message_id = found.group(1).decode("ascii", "replace") if found else ""
        with self._count_lock:
            self._copies.extend((message_id, rcpt) for rcpt in message.rcpt_tos)

    def stop(self) -> None:
        controller = self._controller
        if controller is not None:
            # An upper bound: idle sessions are counted too.
            self.cut += len(controller.sessions)
        super().stop()
