"""The one backoff: how long to wait before the next try after the n-th failure (exponential, capped, jittered).

Every step that retries uses it: the delivery worker for digests and notices
(:mod:`mailer.delivery.retry` holds the mail retry policy around it) and the poll step
for failing feeds. Those are use cases on one rung, which may not import each other,
and the adapters below them (mail, store, feeds' fetch) have no business with
retries; so the arithmetic lives here, as a leaf that imports nothing of ours, on the
lowest rung every one of them may import.
"""

from __future__ import annotations

import random

#: 2 ** 60 × any sane base is far past every cap; a larger exponent would only overflow.
_MAX_EXPONENT = 60


def backoff_delay(attempt: int, /, *, base: float, maximum: float, jitter: bool = True) -> float:
    """Seconds to wait after the ``attempt``-th failure: base × 2^(attempt−1), at most ``maximum``.

    With ``jitter`` the delay is drawn from [½, 1] of that ("equal jitter"): messages
    that failed together (a relay outage) come back spread out instead of all at once,
    and RFC 5321 §4.5.4.1 asks senders to space their retries anyway. Without it the
    schedule is exact (a feed's next poll time, shown to staff).
    """
    exponent = min(max(attempt - 1, 0), _MAX_EXPONENT)
    delay = min(maximum, base * 2**exponent)
    return delay * random.uniform(0.5, 1.0) if jitter else delay
