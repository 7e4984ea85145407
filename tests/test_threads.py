"""map_in_threads: order, concurrency bound, errors, empty input."""

from __future__ import annotations

import threading
import time

import pytest

from lamina.threads import map_in_threads


def test_results_come_back_in_order_on_at_most_n_threads() -> None:
    lock = threading.Lock()
    running, peak, names = 0, 0, set()

    def slow_square(x: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            names.add(threading.current_thread().name)
        time.sleep(0.01 * (x % 3))
        with lock:
            running -= 1
        return x * x

    assert map_in_threads(slow_square, list(range(20)), 4) == [x * x for x in range(20)]
    assert 2 <= peak <= 4 and len(names) <= 4


def test_the_first_error_is_raised_and_no_new_item_starts() -> None:
    started: list[int] = []

    def fail_on_three(x: int) -> int:
        started.append(x)
        if x == 3:
            raise ValueError("three")
        return x

    with pytest.raises(ValueError, match="three"):
        map_in_threads(fail_on_three, list(range(100)), 1)
    assert started == [0, 1, 2, 3]


def test_nothing_to_do() -> None:
    before = threading.active_count()
    assert map_in_threads(lambda x: x, [], 8) == []
    assert threading.active_count() == before
