"""A job's lease: which delivery of its task may run it, kept alive by a heartbeat while that worker lives.

The lease is short (JOB_LEASE_SECONDS) so that a killed worker's job is taken over soon, and renewed every
JOB_LEASE_RENEW_SECONDS from a thread of the task, so that a batch longer than the lease keeps it. Every
write the runner makes is conditional on holding the lease: a worker that lost it (cut off from the
database for longer than the lease while another claimed the job) writes nothing and stops.
"""

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection
from django.db.models import QuerySet
from django.db.models.functions import Now

from enrichment.models import Job

logger = logging.getLogger(__name__)

# What a dropped session (a failover, a restart, a network cut), a deadlock or a cancelled statement raises.
DATABASE_ERRORS = (InterfaceError, OperationalError)


class LeaseLost(Exception):
    """Another delivery holds the job's lease now; this one must stop without writing."""


def lease_end():
    """When a lease taken or renewed now runs out, on the database's clock, so workers' clocks do not matter."""
    return Now() + timedelta(seconds=settings.JOB_LEASE_SECONDS)


class JobLease:
    """One claim of a job. Its token is new at each claim: two claims by the same process (a pool child takes
    the job again after losing it) are two holders."""

    def __init__(self, job_id):
        self.job_id = job_id
        # Read at claim time, in the pool child: a module-level pid would be the parent's, shared by every child.
        self.token = f"{uuid.uuid4().hex[:16]}@{socket.gethostname()}:{os.getpid()}"[:64]
        self._stopped = threading.Event()

    def held(self) -> QuerySet:
        """The job, only while this claim holds it: an UPDATE through it is a write only the holder makes."""
        return Job.objects.filter(job_id=self.job_id, lease_owner=self.token)

    def renew(self) -> bool:
        return bool(self.held().update(lease_expires_at=lease_end()))

    @contextmanager
    def heartbeat(self) -> Iterator[None]:
        """Renews the lease from a thread while the block runs."""
        if connection.in_atomic_block:
            # The heartbeat has a connection of its own, which cannot see a claim the caller has not
            # committed (a test running the task inside its transaction); a real worker is never in one.
            yield
            return
        thread = threading.Thread(target=self._beat, name=f"lease-{self.job_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._stopped.set()
            # Bounded: a renewal stuck on an unreachable database must not hold the task; the thread ends
            # after it, renewing nothing more.
            thread.join(timeout=10)

    def _beat(self) -> None:
        try:
            while not self._stopped.wait(settings.JOB_LEASE_RENEW_SECONDS):
                try:
                    if not self.renew():
                        return  # taken over, or released: the runner finds out at its next write
                except DATABASE_ERRORS as error:
                    logger.warning("Job %s: could not renew its lease (%s); trying again", self.job_id, error)
                    close_old_connections()
        finally:
            connection.close()
