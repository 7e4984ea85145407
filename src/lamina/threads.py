"""Short-lived fan-outs on threads, without importing concurrent.futures: that import,
which loads logging, costs ~8 ms of a command whose whole run can be 0.3 s.

`map_in_threads` is ThreadPoolExecutor.map with the results in order; `run_jobs` runs jobs
that may add jobs (a sync lists a repository's tags, then checks each tag while other
repositories are still being listed). The calling thread works too, so N workers start
N - 1 threads.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar, cast

T = TypeVar("T")
R = TypeVar("R")
# A job returns the jobs it found to do (or None).
Job = Callable[[], "Iterable[Job] | None"]


def map_in_threads(
    fn: Callable[[T], R], items: Sequence[T], workers: int, name: str = "lamina-map"
) -> list[R]:
    """`fn` over `items` on up to `workers` threads; the results in the items' order.

    When `fn` raises, no new item is started, the threads are joined and the first
    exception is raised again."""
    results: list[object] = [None] * len(items)

    def job(i: int) -> Job:
        def run() -> None:
            results[i] = fn(items[i])

        return run

    run_jobs([job(i) for i in range(len(items))], min(workers, len(items)), name)
    return cast(list[R], results)


def run_jobs(jobs: Iterable[Job], workers: int, name: str = "lamina-jobs") -> None:
    """Run `jobs`, and every job they return, on up to `workers` threads; return when all
    have run. When a job raises, no new job starts, the threads are joined and the first
    exception is raised again."""
    pending: deque[Job] = deque(jobs)
    outstanding = len(pending)  # queued or running
    errors: list[BaseException] = []
    cond = threading.Condition()

    def work() -> None:
        nonlocal outstanding
        while True:
            with cond:
                while not pending and outstanding and not errors:
                    cond.wait()
                if errors or not pending:
                    return
                job = pending.popleft()
            try:
                more = list(job() or ())
            except BaseException as exc:
                with cond:
                    errors.append(exc)
                    cond.notify_all()
                return
            with cond:
                pending.extend(more)
                outstanding += len(more) - 1
                cond.notify_all()

    threads = [
        threading.Thread(target=work, name=f"{name}-{k}", daemon=True)
        for k in range(max(0, workers - 1) if pending else 0)
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
