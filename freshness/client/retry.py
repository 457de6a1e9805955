"""When an idempotent call is sent again: after a 503 (or a connection that never opened), a bounded
number of times, each wait drawn at random up to a cap that doubles, so that clients that failed together
do not come back together. A `Retry-After` the service sends is honoured up to the same cap."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Retry:
    """`attempts` counts every send, the first included: 1 never sends again."""

    attempts: int = 3
    backoff: float = 0.25
    max_backoff: float = 5.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1 (the first send)")
        if self.backoff < 0 or self.max_backoff < 0:
            raise ValueError("backoff and max_backoff are seconds, not negative")

    def again(self, idempotent: bool, attempt: int) -> bool:
        """Whether a call that failed on send number `attempt` goes out once more."""
        return idempotent and attempt < self.attempts

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait before send number `attempt + 1` (after `attempt` sends failed)."""
        cap = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        asked = _seconds(retry_after)
        if asked is not None:
            return min(asked, self.max_backoff)
        return random.uniform(0, cap)


NO_RETRY = Retry(attempts=1)


def _seconds(value: str | None) -> float | None:
    """Retry-After in seconds; its HTTP-date form is not worth a clock read here and is ignored."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
