"""One call budget per Haier client_id, shared by every process on this machine; orders first.

Haier counts its limit (100 calls/s) per client_id, across all endpoints and all callers.
catalog_sync, push_orders, track_logistics and balance_snapshot are separate Dagster runs in
separate processes, so a budget per process lets the gateway see their sum (57 calls in one
second at a 40/s limit, measured). Every call therefore draws from one budget per client_id
for the whole machine.

**Pacing: reserve the slot, then sleep.** The budget is a timeline of slots ``1/rate`` seconds
apart. A caller reserves the next free slot under a lock, then sleeps until it outside the
lock. A server whose token bucket holds ``rate`` tokens never runs dry. We first used
pyrate-limiter's GCRA bucket: with 32 threads it sustained 88-94 calls/s of 100, because a
thread that wakes late under the GIL loses its slot for good; reserving before sleeping never
loses one (0.98-0.99 of the limit, zero 429s).

**No more than ``rate`` in any one second.** Slots alone do not promise that: a caller that
wakes late (the CPU busy with Dagster starting up beside a sync) sends after callers that woke
on time, and a gateway counting per second sees the bunch (112 in one second at 100/s,
measured). So the file also keeps the last send times in a ring, and a call goes only when
fewer than ``rate`` calls went in the second before; a late caller waits a moment instead.

**Where the timeline lives.** A small file per client_id in ``HAIER_BUDGET_DIR`` (default:
``haier-budget`` in the system temp folder), named by a hash of the client_id, mapped into
memory by every process and changed only under ``flock``. The kernel drops a flock when its
holder dies, and the file holds only timestamps that are consistent whenever the lock is free,
so kill -9 never leaves the budget stuck: a dead process's unused reservations are simply
slots nobody calls in, at most its thread count times the interval (0.32 s for a 32-thread
sync at 100/s). ``time.monotonic`` is the kernel's CLOCK_MONOTONIC, one clock for every
process on the machine; it restarts at boot, so the file records the boot id and a file from
an earlier boot is started afresh. Measured (``benchmarks/budget_overhead.py``): a few
microseconds per acquisition, against hundreds for SQLite; see the README's Speed section.

**Orders first.** A bulk call (catalog, logistics tracking, balance) reserves at the end of
the timeline, as above; with a sync's 32 threads waiting, that end is 0.3 s or more away. An
order call (the stock check before a push, the push, cancel, reschedule) instead takes the
earliest slot a bulk caller has reserved but not yet reached: it waits at most one interval
(10 ms at 100/s), however long the sync. The timeline keeps its spacing, so the gateway sees
no more calls than before. The taken slot goes on the file's claim list; the bulk caller
checks the list when it wakes, finds its slot claimed and reserves again at the end. With no
bulk slot pending, an order call reserves at the end like any other (and claims that slot, so
a second order never takes it). Which calls serve an order is said by the code that makes them,
with :func:`serving_orders`; everything else is bulk.

**Limits.** Processes sharing a client_id must use the same rate (``HAIER_RATE_LIMIT``): each
spaces its reservations by its own interval. The budget covers one machine; several machines
need a networked implementation of :class:`CallBudget` (Redis or Postgres, see the README),
which callers would not notice.
"""

from __future__ import annotations

import contextvars
import enum
import fcntl
import functools
import hashlib
import math
import mmap
import os
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, TypeVar

from haier_pipeline.environment import HAIER_BUDGET_DIR

BUDGET_DIR_VARIABLE = HAIER_BUDGET_DIR.name
DEFAULT_BUDGET_DIR = Path(HAIER_BUDGET_DIR.default_text())
MAX_CLAIMS = 64  # order claims kept at once; each lives until its slot is checked or stale
MAX_WINDOW = 1024  # calls remembered for the one-second window; above this rate it is not kept
CLAIM_KEPT_S = 30.0  # a claim no bulk caller checked by then belonged to a dead process
WINDOW_S = 1.03
"""No more than ``rate`` calls go within this many seconds. A call reaches the gateway some
milliseconds after it is granted, tens of them on a busy CPU (and a gateway stamps arrivals
late too); with a window of exactly one second, four jobs sharing a client_id on a loaded
2-core machine put 42 calls into one gateway second at a 40/s limit, and 105 at 100/s.
Measured with ``benchmarks/shared_budget.py --rate-limit 40`` on that machine: 25 ms of
headroom still gave 42 (load 3.7), 30 ms gave 40 and 41 (load 1.4-2), 50 ms 40, 100 ms 39.
30 ms costs at most 3 % of the pace (0.97 of the limit)."""

_MAGIC = b"HBUDGET2"
# magic, boot id, next free slot (monotonic seconds), number of claims, where the next send
# goes in the ring; then the claims; then the ring of the last MAX_WINDOW send times.
_HEADER = struct.Struct("<8s16sdII")
_TIME = struct.Struct("<d")
_RING_AT = _HEADER.size + MAX_CLAIMS * _TIME.size
_FILE_SIZE = _RING_AT + MAX_WINDOW * _TIME.size
_T = TypeVar("_T")


class Priority(enum.Enum):
    """BULK calls may wait behind others; ORDER calls go first (see the module docstring)."""

    BULK = "bulk"
    ORDER = "order"


class CallBudget(Protocol):
    """What every call goes through before it is sent. Implementations: :class:`FileBudget`."""

    def acquire(self, priority: Priority = Priority.BULK) -> None:
        """Block until this call may go."""
        ...


class BudgetUnavailable(RuntimeError):
    """The budget file cannot be created or opened; the message names the setting to fix."""


_PRIORITY: contextvars.ContextVar[Priority] = contextvars.ContextVar(
    "haier_call_priority", default=Priority.BULK
)


@contextmanager
def serving_orders() -> Iterator[None]:
    """Calls made inside this block (in this thread) serve an order: they go first."""
    token = _PRIORITY.set(Priority.ORDER)
    try:
        yield
    finally:
        _PRIORITY.reset(token)


def current_priority() -> Priority:
    return _PRIORITY.get()


class FileBudget:
    """The machine-wide budget of one client_id, in a file every process maps. Thread-safe."""

    def __init__(self, path: Path, calls_per_second: float) -> None:
        self.path = path
        self.interval = 1.0 / _checked_rate(calls_per_second)
        self._window = math.ceil(calls_per_second)  # calls allowed in any one second
        self._mutex = threading.Lock()  # flock does not exclude threads sharing the descriptor
        self._map: mmap.mmap | None = None
        self._fd = -1
        self._pid = 0
        self._open()

    def acquire(self, priority: Priority = Priority.BULK) -> None:
        if priority is Priority.ORDER:
            _sleep_until(self._update(self._claim_for_order))
            wait = self._update(self._send)
        else:
            wait = self._bulk_slot()
        while wait > 0:  # woken late, after others: the window says when this call may go
            time.sleep(wait)
            wait = self._update(self._send)

    def _bulk_slot(self) -> float:
        """Reserve, sleep, and reserve again if an order took the slot; then as :meth:`_send`."""
        while True:
            slot = self._update(self._reserve)
            _sleep_until(slot)
            wait = self._update(functools.partial(self._use, slot))
            if wait is not None:
                return wait

    def _use(self, slot: float, state: _State) -> float | None:
        """None when an order took this bulk slot (its claim is cleared); else :meth:`_send`."""
        if not state.keep(slot, self.interval):
            return None
        return self._send(state)

    def _send(self, state: _State) -> float:
        """0 when the call may go now (recorded as sent), else the seconds to wait first.

        Slots are 1/rate apart, but a caller that woke late (a busy CPU) sends after callers
        that woke on time; a gateway counting per second would then see more than ``rate``
        in one second. So no call goes while ``rate`` calls went within the last
        :data:`WINDOW_S`.
        """
        now = time.monotonic()
        if self._window <= MAX_WINDOW:
            wait = state.sent_before(self._window) + WINDOW_S - now
            if wait > 0:
                return wait
        state.record_send(now)
        return 0.0

    def _update(self, change: Callable[[_State], _T]) -> _T:
        """Run ``change`` on the shared state under both locks, and write back what it did."""
        with self._mutex:
            if self._pid != os.getpid():  # a forked child must not share our open file
                self._open()
            assert self._map is not None
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                state = _State.read(self._map)
                result = change(state)
                state.write()
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        return result

    def _reserve(self, state: _State) -> float:
        slot = max(state.next_slot, time.monotonic())
        state.next_slot = slot + self.interval
        return slot

    def _claim_for_order(self, state: _State) -> float:
        now = time.monotonic()
        state.forget_claims_before(now - CLAIM_KEPT_S)
        slot = state.earliest_unclaimed(now, self.interval)
        if slot is None:
            slot = self._reserve(state)
        state.claim(slot)
        return slot

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise BudgetUnavailable(
                f"cannot open the Haier call budget file {self.path} ({exc.strerror}); set "
                f"{BUDGET_DIR_VARIABLE} to a folder that every process calling Haier on this "
                "machine can write"
            ) from None
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.fstat(fd).st_size < _FILE_SIZE:
                os.ftruncate(fd, _FILE_SIZE)
            self._map = mmap.mmap(fd, _FILE_SIZE)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
        if self._fd >= 0:  # a forked child's copy of its parent's descriptor
            os.close(self._fd)
        self._fd, self._pid = fd, os.getpid()


class _State:
    """The shared state as read from the file: next free slot, claimed slots, recent sends."""

    def __init__(self, buffer: mmap.mmap, next_slot: float, claims: list[float], head: int) -> None:
        self.buffer = buffer
        self.next_slot = next_slot
        self.claims = claims
        self.head = head

    @classmethod
    def read(cls, buffer: mmap.mmap) -> _State:
        magic, boot, next_slot, count, head = _HEADER.unpack_from(buffer, 0)
        if magic != _MAGIC or boot != _BOOT_ID or count > MAX_CLAIMS or head >= MAX_WINDOW:
            # New, or from an earlier boot, whose clock meant other times: start afresh.
            buffer[_RING_AT:_FILE_SIZE] = bytes(_FILE_SIZE - _RING_AT)
            return cls(buffer, 0.0, [], 0)
        claims = list(struct.unpack_from(f"<{count}d", buffer, _HEADER.size))
        return cls(buffer, next_slot, claims, head)

    def write(self) -> None:
        count = len(self.claims)
        _HEADER.pack_into(self.buffer, 0, _MAGIC, _BOOT_ID, self.next_slot, count, self.head)
        struct.pack_into(f"<{count}d", self.buffer, _HEADER.size, *self.claims)

    def sent_before(self, calls: int) -> float:
        """When the call ``calls`` sends ago went (0.0 if there were fewer)."""
        index = (self.head - calls) % MAX_WINDOW
        (sent,) = _TIME.unpack_from(self.buffer, _RING_AT + index * _TIME.size)
        return float(sent)

    def record_send(self, moment: float) -> None:
        _TIME.pack_into(self.buffer, _RING_AT + self.head * _TIME.size, moment)
        self.head = (self.head + 1) % MAX_WINDOW

    def earliest_unclaimed(self, now: float, interval: float) -> float | None:
        """The earliest reserved slot still ahead of ``now`` that no order has claimed.

        The reserved slots ahead of now are ``next_slot - k * interval``: the timeline only
        jumps forward (to now) when nothing is reserved ahead.
        """
        ahead = math.ceil((self.next_slot - now) / interval) - 1
        for k in range(ahead, 0, -1):
            slot = self.next_slot - k * interval
            if slot > now and not self._claimed(slot, interval):
                return slot
        return None

    def claim(self, slot: float) -> None:
        if len(self.claims) == MAX_CLAIMS:
            self.claims.remove(min(self.claims))
        self.claims.append(slot)

    def keep(self, slot: float, interval: float) -> bool:
        """True when a bulk caller may use its slot; False (claim cleared) when an order took it."""
        for index, claimed in enumerate(self.claims):
            if abs(claimed - slot) < interval / 2:
                del self.claims[index]
                return False
        return True

    def forget_claims_before(self, moment: float) -> None:
        self.claims = [claimed for claimed in self.claims if claimed >= moment]

    def _claimed(self, slot: float, interval: float) -> bool:
        return any(abs(claimed - slot) < interval / 2 for claimed in self.claims)


def _boot_id() -> bytes:
    """This boot's id (Linux); elsewhere a constant, and a stale file is then only slower."""
    try:
        text = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return uuid.UUID(text).bytes
    except (OSError, ValueError):
        return bytes(16)


_BOOT_ID = _boot_id()


def _checked_rate(calls_per_second: float) -> float:
    if not calls_per_second > 0 or math.isinf(calls_per_second):
        raise ValueError(
            f"rate limit is {calls_per_second!r} calls per second; set HAIER_RATE_LIMIT "
            "to a positive number (Haier allows 100)"
        )
    return calls_per_second


def _sleep_until(slot: float) -> None:
    delay = slot - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def budget_dir() -> Path:
    """HAIER_BUDGET_DIR, or ``haier-budget`` in the system temp folder."""
    return Path(HAIER_BUDGET_DIR.value(HAIER_BUDGET_DIR.text()))


def budget_file(directory: Path, client_id: str) -> Path:
    """The client_id's file: named by a hash, so the id itself is never written anywhere."""
    digest = hashlib.sha256(client_id.encode("utf-8")).hexdigest()[:32]
    return directory / f"{digest}.budget"


_REGISTRY: dict[tuple[Path, float], FileBudget] = {}
_REGISTRY_LOCK = threading.Lock()


def budget_for(client_id: str, calls_per_second: float) -> CallBudget:
    """The machine-wide budget of this client_id (one object per process, made on first use);
    with HAIER_BUDGET_URL set, the budget every machine shares in PostgreSQL instead."""
    # Imported here: that module imports this one.
    from haier_pipeline.haier.budget_postgres import budget_url, postgres_budget_for

    url = budget_url()
    if url:
        return postgres_budget_for(url, client_id, calls_per_second)
    path = budget_file(budget_dir(), client_id)
    key = (path, calls_per_second)
    with _REGISTRY_LOCK:
        budget = _REGISTRY.get(key)
        if budget is None:
            budget = _REGISTRY[key] = FileBudget(path, calls_per_second)
        return budget
