"""`map_in_threads`: ThreadPoolExecutor.map for short-lived fan-outs (a sync's tag listings
and up-to-date checks), results in order, without importing concurrent.futures: that
import, which loads logging, costs milliseconds of a command whose whole run is a few
tenths of a second (`python -X importtime -c "import concurrent.futures"` shows it). The
calling thread works too, so N workers start N - 1 threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar, cast

T = TypeVar("T")
R = TypeVar("R")


def map_in_threads(
    fn: Callable[[T], R], items: Sequence[T], workers: int, name: str = "lamina-map"
) -> list[R]:
    """`fn` over `items` on up to `workers` threads; the results in the items' order.

    When `fn` raises, no new item is started, the threads are joined and the first
    exception is raised again."""
    count = len(items)
    results: list[object] = [None] * count
    errors: list[BaseException] = []
    next_index = iter(range(count))
    lock = threading.Lock()

    def work() -> None:
        while not errors:
            with lock:
                i = next(next_index, None)
            if i is None:
                return
            try:
                results[i] = fn(items[i])
            except BaseException as exc:
                errors.append(exc)

    threads = [
        threading.Thread(target=work, name=f"{name}-{k}", daemon=True)
        for k in range(min(workers, count) - 1)
    ]
    for thread in threads:
        thread.start()
    try:
        work()
    finally:
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    return cast(list[R], results)
