"""Progress reporting that can never fail or stall the work it reports on.

Every job (ingest, analysis, identity matching, training, the dashboard's upload) takes
an optional :class:`Progress` reporter and a :class:`ByteProgress` counter, and calls
them only through a :class:`SafeProgress`:

- an exception raised by a reporter (a closed terminal, a widget gone with its browser
  tab, a bug in a progress bar) is caught and logged once, never raised to the job;
- reporters are called by one thread at a time, so a bar is never updated concurrently;
- a thread never waits for another thread's reporting: an event that arrives while
  another thread is reporting is left for that thread to deliver (the newest event
  wins, byte counts add up), so the last event of a job is always delivered.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)


class Progress(Protocol):
    """Receives ``(done, total, message)`` after each unit of work (``done <= total``)."""

    def __call__(self, done: int, total: int, message: str, /) -> None: ...


class ByteProgress(Protocol):
    """Receives the number of bytes just read or written."""

    def __call__(self, n: int, /) -> None: ...


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report: ``done`` of ``total`` units, with a short message."""

    done: int
    total: int
    message: str = ""


class SafeProgress:
    """Calls a job's reporters without ever letting them fail or block the job.

    Call it like a :class:`Progress`; call :meth:`bytes` like a :class:`ByteProgress`.
    Safe to call from any thread.
    """

    def __init__(self, progress: Progress | None = None,
                 on_bytes: ByteProgress | None = None, *, job: str = "job") -> None:
        self._progress, self._on_bytes, self.job = progress, on_bytes, job
        self._state = threading.Lock()   # guards the pending fields; held only briefly
        self._deliver = threading.Lock()  # held by the one thread calling reporters
        self._event: ProgressEvent | None = None
        self._bytes = 0
        self.last: ProgressEvent | None = None
        self.failures = 0

    @property
    def enabled(self) -> bool:
        """Whether any reporter is attached."""
        return self._progress is not None or self._on_bytes is not None

    def __call__(self, done: int, total: int, message: str = "") -> None:
        """Report ``done`` of ``total``; never raises."""
        if self._progress is None:
            return
        with self._state:
            self._event = ProgressEvent(done, total, message)
        self._drain()

    def bytes(self, n: int) -> None:
        """Report ``n`` more bytes; never raises."""
        if self._on_bytes is None:
            return
        with self._state:
            self._bytes += n
        self._drain()

    def _take(self) -> tuple[ProgressEvent | None, int]:
        with self._state:
            event, n = self._event, self._bytes
            self._event, self._bytes = None, 0
        return event, n

    def _pending(self) -> bool:
        with self._state:
            return self._event is not None or self._bytes > 0

    def _drain(self) -> None:
        # Deliver what is pending unless another thread is delivering; that thread
        # re-checks after letting go, so nothing left pending is lost.
        while self._deliver.acquire(blocking=False):
            try:
                while True:
                    event, n = self._take()
                    if event is None and n == 0:
                        break
                    if event is not None:
                        self.last = event
                        self._call(self._progress, event.done, event.total, event.message)
                    if n:
                        self._call(self._on_bytes, n)
            finally:
                self._deliver.release()
            if not self._pending():
                return

    def _call(self, reporter, *args) -> None:
        try:
            reporter(*args)
        except Exception:
            self.failures += 1
            if self.failures == 1:
                log.warning("progress reporting of the %s failed; the %s goes on without "
                            "it", self.job, self.job, exc_info=True)


def safe_progress(progress: Progress | SafeProgress | None = None,
                  on_bytes: ByteProgress | None = None, *, job: str = "job") -> SafeProgress:
    """``progress`` itself if it is already safe (and no byte counter is added), else a
    :class:`SafeProgress` around ``progress`` and ``on_bytes``."""
    if isinstance(progress, SafeProgress) and on_bytes is None:
        return progress
    return SafeProgress(progress, on_bytes, job=job)
