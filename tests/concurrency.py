"""Races from separate database connections, as concurrent requests and workers run them."""

import threading

from django.db import connection


def run_at_once(work, count: int) -> None:
    """Calls `work(index)` for each index below `count`, each in its own thread and database
    connection, all released together once every thread is ready."""
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        barrier.wait()
        try:
            work(index)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
