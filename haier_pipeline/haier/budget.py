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

**No more than ``rate`` in any one second, at the gateway.** Slots alone do not promise that:
a caller that wakes late (the CPU busy with Dagster starting up beside a sync) sends after
callers that woke on time, and a gateway counting per second sees the bunch (112 in one
second at 100/s, measured). So the file also keeps the last send times in a ring, and a call
goes only when fewer than ``rate`` calls went within the last second plus a headroom: a call
reaches the gateway some milliseconds after it is granted, and the gateway sees a bunch when
those delays differ. A fixed headroom of 30 ms held four jobs at 40/s to 40-41 calls in a
gateway second on the loaded 2-core machine (25 ms still gave 42), but cost 3 % of the pace
everywhere (0.97 of the limit), idle machines included. The headroom is therefore adaptive:
``2 ms + 3 x lag``, at most 150 ms, where ``lag`` is how late callers have lately been waking
for their slots (the peak, halving every 10 s), measured by every caller when it takes its slot
and shared through the file. Waking late and reaching the gateway late have one cause, a CPU
busy elsewhere, so the headroom is large exactly when the delays are; on an idle machine it
is a few milliseconds. Figures: the README's Speed section. (Stamping the ring when the
request is written to the socket would need a second call in every client and in the
:class:`CallBudget` protocol, and still leaves the gateway's own delays uncovered.)

**Where the timeline lives.** A small file per client_id in ``HAIER_BUDGET_DIR`` (default:
``haier-budget-<uid>`` in the system temp folder), named by a hash of the client_id, read and
written with ``pread``/``pwrite`` under ``flock``; how it is made and opened safely on a host
shared with other users, and why not mmap, is in :mod:`haier_pipeline.haier.budget_store`.
The kernel drops a flock when its holder dies, and the file holds only values that are
consistent whenever the lock is free, so kill -9 never leaves the budget stuck: a dead
process's unused reservations are simply slots nobody calls in, at most its thread count
times the interval (0.32 s for a 32-thread sync at 100/s). ``time.monotonic`` is the kernel's
CLOCK_MONOTONIC, one clock for every process on the machine; it restarts at boot, so the
file records the boot id, and a file from an earlier boot is started afresh.

**What cannot be right is not trusted.** A value no process of this budget writes (not a
finite number, a next slot more than :data:`MAX_AHEAD` intervals ahead, a claim beyond it, a
send time in the future, counters out of range) is corruption: the budget starts afresh and
says so once in the log, instead of making every caller sleep for days. A truncated file is
rebuilt under the lock.

**One machine, one rate.** The file records the rate and the machine (the kernel's boot id:
two containers on one node share the kernel, its clock and its locks; two nodes share none of
them). A process asking another rate for the same client_id is refused with one line naming
both; so is a process on another machine while the file was used in the last minute
(:data:`QUIET_S`): a folder shared by machines must never silently give each its own budget;
``HAIER_BUDGET_URL`` gives them one. A file unused for a minute is started afresh.

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
"""

from __future__ import annotations

import contextvars
import enum
import fcntl
import functools
import hashlib
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, TypeVar

from haier_pipeline.environment import HAIER_BUDGET_DIR, HAIER_BUDGET_URL, MIN_RATE_LIMIT
from haier_pipeline.haier import budget_store as store
from haier_pipeline.haier.budget_store import (
    BUDGET_DIR_VARIABLE,
    MAX_CLAIMS,
    MAX_WINDOW,
    BudgetUnavailable,
    Header,
    Shrunk,
)
from haier_pipeline.haier.masking import get_logger

__all__ = ["BudgetUnavailable", "CallBudget", "FileBudget", "Priority"]

log = get_logger(__name__)

CLAIM_KEPT_S = 30.0  # a claim no bulk caller checked by then belonged to a dead process
QUIET_S = 60.0
"""A file unused this long is started afresh: its rate, its machine and its times no longer
matter. Used more recently from another machine (another boot id), it is refused."""
MAX_AHEAD = 1024
"""The next free slot lies at most this many intervals ahead (and at most a second at rates
above 1,024/s): one per waiting thread of every process (a sync waits with 32). Further is
corruption (10 s at 100/s)."""
MIN_HEADROOM_S = 0.002
LAG_FACTOR = 3.0
MAX_HEADROOM_S = 0.15
LAG_HALF_LIFE_S = 10.0
MAX_LAG_S = MAX_HEADROOM_S / LAG_FACTOR
"""The window's headroom: no more than ``rate`` calls go within ``1 s + headroom``, and the
headroom is ``MIN_HEADROOM_S + LAG_FACTOR * lag``, at most ``MAX_HEADROOM_S``. ``lag`` is
how late callers have recently been waking for their slots (a peak that halves every
``LAG_HALF_LIFE_S``), shared by every process through the file. See the module docstring."""
_T = TypeVar("_T")


class Priority(enum.Enum):
    """BULK calls may wait behind others; ORDER calls go first (see the module docstring)."""

    BULK = "bulk"
    ORDER = "order"


class CallBudget(Protocol):
    """What every call goes through before it is sent. Implementations: :class:`FileBudget`."""

    def acquire(self, priority: Priority = Priority.BULK) -> None:
        """Block until this call may go; BudgetUnavailable (one line) when it never may."""
        ...


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


class _Corrupt(Exception):
    """A value in the file that cannot be right; the budget starts afresh."""


class FileBudget:
    """The machine-wide budget of one client_id, in a file every process shares. Thread-safe."""

    def __init__(self, path: Path, calls_per_second: float) -> None:
        self.path = path
        self.rate = _checked_rate(calls_per_second)
        self.interval = 1.0 / self.rate
        self._window = math.ceil(calls_per_second)  # calls allowed in any one second
        self._mutex = threading.Lock()  # flock does not exclude threads sharing the descriptor
        self._fd = -1
        self._pid = 0
        self._told = False
        with self._mutex:
            self._open()
        try:
            self._update(lambda state: None)  # refused now, not at the first call, if it must be
        except BaseException:
            self.close()
            raise

    def acquire(self, priority: Priority = Priority.BULK) -> None:
        if priority is Priority.ORDER:
            slot = self._update(self._claim_for_order)
            _sleep_until(slot)
            wait = self._update(functools.partial(self._send, slot))
        else:
            wait = self._bulk_slot()
        while wait > 0:  # woken late, after others: the window says when this call may go
            due = time.monotonic() + wait
            time.sleep(wait)
            wait = self._update(functools.partial(self._send, due))

    def close(self) -> None:
        """Close the file; a process keeps its budgets open, a test suite opens thousands."""
        with self._mutex:
            if self._fd >= 0 and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = -1

    def headroom_s(self) -> float:
        """The window's headroom now (seconds beyond one), as every process sharing it sees it."""
        return self._update(lambda state: self._headroom(state, time.monotonic()))

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
        return self._send(slot, state)

    def _send(self, due: float, state: _State) -> float:
        """0 when the call may go now (recorded as sent), else the seconds to wait first.

        Slots are 1/rate apart, but a caller that woke late (a busy CPU) sends after callers
        that woke on time; a gateway counting per second would then see more than ``rate``
        in one second. So no call goes while ``rate`` calls went within the last second
        plus the headroom; how late this caller woke (``due`` was its time) feeds the headroom.
        """
        now = time.monotonic()
        state.observe_lag(now - due, now)
        if self._window <= MAX_WINDOW:
            window = 1.0 + self._headroom(state, now)
            wait = state.sent_before(self._window, now) + window - now
            if wait > 0:
                return wait
        state.record_send(now)
        return 0.0

    def _headroom(self, state: _State, now: float) -> float:
        return min(MAX_HEADROOM_S, MIN_HEADROOM_S + LAG_FACTOR * state.lag(now))

    def _reserve(self, state: _State) -> float:
        slot = max(state.header.next_slot, time.monotonic())
        state.header.next_slot = slot + self.interval
        return slot

    def _claim_for_order(self, state: _State) -> float:
        now = time.monotonic()
        state.forget_claims_before(now - CLAIM_KEPT_S)
        slot = state.earliest_unclaimed(now, self.interval)
        if slot is None:
            slot = self._reserve(state)
        state.claim(slot)
        return slot

    def _update(self, change: Callable[[_State], _T]) -> _T:
        """Run ``change`` on the shared state under both locks, and write back what it did."""
        with self._mutex:
            if self._pid != os.getpid():  # a forked child must not share our open file
                self._open()
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                return self._locked(change)
            except OSError as error:
                raise BudgetUnavailable(
                    f"cannot read or write the Haier call budget file {self.path} "
                    f"({error.strerror}); free space there or set {BUDGET_DIR_VARIABLE} to "
                    "a folder of your own"
                ) from None
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _locked(self, change: Callable[[_State], _T]) -> _T:
        try:
            state = self._read()
            result = change(state)
        except Shrunk:  # truncated under us (truncate(1) takes no lock)
            state = self._fresh("was truncated; it was rebuilt", rebuild=True)
            result = change(state)
        except _Corrupt as corrupt:
            state = self._fresh(str(corrupt))
            result = change(state)
        state.write(self.rate)
        return result

    def _read(self) -> _State:
        """The state as stored; afresh when the file is new, stale or corrupt (logged once)."""
        try:
            header = store.read_header(self._fd)
        except Shrunk:
            return self._fresh("was truncated; it was rebuilt", rebuild=True)
        problem = self._judge(header, time.monotonic(), time.time())
        if problem is None:
            return _State(self._fd, header)
        return self._fresh(problem)

    def _judge(self, header: Header, now: float, wall: float) -> str | None:
        """None when the header can be used; else why it is started afresh ("" needs no word).

        Raises BudgetUnavailable when another machine or another rate uses the file.
        """
        if header.magic == bytes(8):
            return ""  # made just now
        if header.magic != store.MAGIC:
            return "does not start as a budget file does"
        if not math.isfinite(header.used_at):
            return "holds a time of last use that is not a number"
        recent = wall - header.used_at < QUIET_S
        if header.boot != _BOOT_ID:
            if recent:
                raise BudgetUnavailable(self._other_machine(wall - header.used_at))
            return ""  # an earlier boot of this machine, or a machine gone for a minute
        if not recent:
            return ""  # unused for a minute: none of its times matter any more
        problem = _impossible(header, now, self.interval)
        if problem is None and header.rate != self.rate:
            raise BudgetUnavailable(self._other_rate(header.rate))
        return problem

    def _fresh(self, problem: str, rebuild: bool = False) -> _State:
        """A new state. Unless the file was simply new or unused (``problem`` is ""), callers
        may still hold slots of the lost timeline: the ring then says ``rate`` calls went just
        now, so nothing goes for a second and the lost state cannot become a burst."""
        if rebuild:
            store.reserve(self._fd, self.path)
        if problem and not self._told:
            self._told = True
            log.warning(
                "the Haier call budget file %s %s; started afresh (said once per process)",
                self.path,
                problem,
            )
        store.fill_ring(self._fd, time.monotonic() if problem else 0.0)
        return _State(self._fd, Header())

    def _other_machine(self, age: float) -> str:
        return (
            f"the Haier call budget file {self.path} was used {max(age, 0.0):.0f} s ago from "
            f"another machine (another kernel boot id), and a {BUDGET_DIR_VARIABLE} shared "
            "by machines would give each its own budget; set "
            f"{HAIER_BUDGET_URL.name} so that every machine shares one budget in PostgreSQL "
            f"(a machine that just restarted may use its own folder {QUIET_S:.0f} s after "
            "its last call)"
        )

    def _other_rate(self, theirs: float) -> str:
        return (
            f"the Haier call budget of this client_id ({self.path}) is in use at {theirs:g} "
            f"calls/s, and this process asks for {self.rate:g} calls/s; Haier counts one "
            "limit per client_id, so give every process and account using it the same rate "
            "(HAIER_RATE_LIMIT, or rate_limit in the accounts file)"
        )

    def _open(self) -> None:
        fd = store.open_budget_file(self.path)
        if self._fd >= 0:  # a forked child's copy of its parent's descriptor
            os.close(self._fd)
        self._fd, self._pid = fd, os.getpid()


def _impossible(header: Header, now: float, interval: float) -> str | None:
    """What in a header of this machine and rate cannot be right, or None."""
    if not store.all_finite(header.numbers()):
        return "holds a value that is not a finite number"
    if not header.rate >= MIN_RATE_LIMIT:
        return f"holds a rate of {header.rate:g} calls/s"
    if header.count > MAX_CLAIMS or header.head >= MAX_WINDOW:
        return "holds a count out of range"
    if header.next_slot - now > max(MAX_AHEAD * interval, 1.0):
        return f"has its next free slot {header.next_slot - now:,.0f} s ahead"
    if max(header.claims, default=0.0) > header.next_slot:
        return "has an order claim beyond its next free slot"
    if not 0.0 <= header.lag <= MAX_LAG_S or header.lag_at > now:
        return "holds a lateness that cannot be"
    return None


class _State:
    """The shared state under the lock: the header (written back), the ring (read in place)."""

    def __init__(self, fd: int, header: Header) -> None:
        self.fd = fd
        self.header = header

    def write(self, rate: float) -> None:
        header = self.header
        header.magic, header.boot, header.rate = store.MAGIC, _BOOT_ID, rate
        header.used_at = time.time()
        store.write_header(self.fd, header)

    def sent_before(self, calls: int, now: float) -> float:
        """When the call ``calls`` sends ago went (0.0 if there were fewer)."""
        sent = store.read_sent(self.fd, (self.header.head - calls) % MAX_WINDOW)
        if not sent <= now:  # also NaN
            raise _Corrupt("holds a send time in the future")
        return sent

    def record_send(self, moment: float) -> None:
        store.write_sent(self.fd, self.header.head, moment)
        self.header.head = (self.header.head + 1) % MAX_WINDOW

    def lag(self, now: float) -> float:
        """How late callers have been waking: the last peak, halved every LAG_HALF_LIFE_S."""
        elapsed = max(now - self.header.lag_at, 0.0)
        return float(self.header.lag * 0.5 ** (elapsed / LAG_HALF_LIFE_S))

    def observe_lag(self, lateness: float, now: float) -> None:
        self.header.lag = min(MAX_LAG_S, max(lateness, self.lag(now)))
        self.header.lag_at = now

    def earliest_unclaimed(self, now: float, interval: float) -> float | None:
        """The earliest reserved slot still ahead of ``now`` that no order has claimed.

        The reserved slots ahead of now are ``next_slot - k * interval``: the timeline only
        jumps forward (to now) when nothing is reserved ahead.
        """
        next_slot = self.header.next_slot
        ahead = math.ceil((next_slot - now) / interval) - 1
        for k in range(ahead, 0, -1):
            slot = next_slot - k * interval
            if slot > now and not self._claimed(slot, interval):
                return slot
        return None

    def claim(self, slot: float) -> None:
        claims = self.header.claims
        if len(claims) == MAX_CLAIMS:
            claims.remove(min(claims))
        claims.append(slot)

    def keep(self, slot: float, interval: float) -> bool:
        """True when a bulk caller may use its slot; False (claim cleared) when an order took it."""
        for index, claimed in enumerate(self.header.claims):
            if abs(claimed - slot) < interval / 2:
                del self.header.claims[index]
                return False
        return True

    def forget_claims_before(self, moment: float) -> None:
        self.header.claims = [claimed for claimed in self.header.claims if claimed >= moment]

    def _claimed(self, slot: float, interval: float) -> bool:
        return any(abs(claimed - slot) < interval / 2 for claimed in self.header.claims)


_BOOT_ID = store.boot_id()


def _checked_rate(calls_per_second: float) -> float:
    if not calls_per_second >= MIN_RATE_LIMIT or math.isinf(calls_per_second):
        raise ValueError(
            f"rate limit is {calls_per_second!r} calls per second; set HAIER_RATE_LIMIT "
            f"(or rate_limit in the accounts file) to a number from {MIN_RATE_LIMIT:g} "
            "(Haier allows 100)"
        )
    return calls_per_second


def _sleep_until(slot: float) -> None:
    delay = slot - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def budget_dir() -> Path:
    """HAIER_BUDGET_DIR, or ``haier-budget-<uid>`` in the system temp folder."""
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
