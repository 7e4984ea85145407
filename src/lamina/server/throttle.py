"""Failed-login throttling per client address (HTTP Basic and the token endpoint).

After `attempts` failures from one address within `window` seconds, further logins from it
are refused with 429 TOOMANYREQUESTS (and `Retry-After`) until the oldest failure leaves the
window; a success clears the address. State is per worker process and bounded in size: with
N workers an address gets at most N x `attempts` tries per window, which still turns an
online password guess from thousands per second into a handful per minute.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque

from lamina.errors import ErrorCode
from lamina.server.errors import RegistryHTTPError

_MAX_ADDRESSES = 50_000


class LoginThrottle:
    def __init__(self, attempts: int = 5, window: float = 60.0) -> None:
        self.attempts = attempts
        self.window = window
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, addr: str, now: float) -> deque[float] | None:
        times = self._failures.get(addr)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[addr]
            return None
        return times

    def check(self, addr: str) -> None:
        """Raise 429 if `addr` has used up its failed attempts."""
        now = time.monotonic()
        times = self._recent(addr, now)
        if times is not None and len(times) >= self.attempts:
            wait = max(1, math.ceil(times[0] + self.window - now))
            raise RegistryHTTPError(
                429,
                ErrorCode.TOOMANYREQUESTS,
                f"too many failed logins from {addr}; retry in {wait}s",
                headers={"Retry-After": str(wait)},
            )

    def failure(self, addr: str) -> None:
        now = time.monotonic()
        times = self._recent(addr, now)
        if times is None:
            times = self._failures[addr] = deque(maxlen=max(self.attempts, 1))
        times.append(now)
        self._failures.move_to_end(addr)
        while len(self._failures) > _MAX_ADDRESSES:
            self._failures.popitem(last=False)

    def success(self, addr: str) -> None:
        self._failures.pop(addr, None)
