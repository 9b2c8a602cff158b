"""The call budget of one client_id shared by several machines: one row in PostgreSQL.

The file budget (:mod:`.budget`) holds on one machine only: its times are the machine's
monotonic clock and its lock is ``flock``. Dagster runs spread over several hosts (Kubernetes,
Docker on several VMs) need the budget where every host reaches it; set ``HAIER_BUDGET_URL``
and every call draws from one row per client_id in a PostgreSQL database instead. Callers do
not notice: this is the same :class:`~.budget.CallBudget`, with the same three steps as the
file budget, each one autocommitted statement on the row:

- **reserve** (a bulk call): ``next_slot = greatest(next_slot, now) + interval``, returning the
  slot; the caller sleeps until it;
- **claim** (an order call): the earliest slot a bulk caller reserved but has not reached and
  no order claimed yet, added to ``claims`` (or, with none pending, a slot at the end);
- **send** (every call, on waking): a bulk caller whose slot an order claimed reserves again at
  the end, in the same statement; otherwise the call goes when fewer than ``rate`` calls went
  within the last 1.015 s (the ring ``sends``, the last ``rate`` send times), widened by this
  process's recent lag (:meth:`PostgresBudget._window_s`), and is recorded as sent.

So a call costs two round trips (decide, then check on waking), as it costs the file budget
two locked sections; no statement ever waits for a caller's sleep. Measured on the loaded
2-core machine (``benchmarks/budget_overhead.py``): about 1.3 ms per bulk call alone and
1,350 acquisitions/s with 8 processes on one row, far above Haier's 100/s. The statements are
not ``PREPARE``d: that would save their planning (about 0.4 ms for the send), but prepared
statements break behind PgBouncer's transaction pooling, common in front of shared Postgres.

**Times are the database's** (``clock_timestamp()``, read once per statement, after the row is
locked), so hosts' clocks never meet: the statement returns how long to sleep, not when. Slots are
``timestamptz`` (whole microseconds) and the interval is rounded up to whole microseconds,
so ``next_slot - k * interval`` is exactly the slot a bulk caller holds and a claim matches
it by equality. The row is keyed by the same hash of the client_id as the file budget's name
(:func:`client_key`); the id itself is written nowhere.

**Concurrency.** The reserve is one ``UPDATE`` whose new value is computed from the row
itself, so Postgres re-evaluates it on the newest row when two collide. The claim and the send
read the row in a ``SELECT … FOR UPDATE`` (which returns the newest version after waiting)
and update it in the same statement.

**kill -9 never leaves it stuck.** No transaction outlives a statement, so no client holds
the row while it sleeps or calls Haier; a dead process's unused reservations are slots nobody
calls in, and its claims are forgotten after :data:`~.budget.CLAIM_KEPT_S`. A session that
holds the row in an open transaction (someone's ``psql``) delays callers at most
:data:`LOCK_TIMEOUT_S`; then the run stops with one line.

**Values that cannot be right** (the database clock stepped back, a hand edit): a next slot
further ahead than :data:`MAX_PENDING` intervals is taken for now, and send times in the future
and claims outside their lifetime are dropped, so no caller ever waits on them. As in the
file, at most :data:`MAX_CLAIMS` claims are kept (the oldest go first): an order
slot taken at the end of the timeline is claimed too, and no bulk caller ever clears it.

**Unreachable.** The connection is made at the first call; if it fails, or is lost and cannot
be made again, that call raises :class:`~.budget.BudgetUnavailable` with one line naming
``HAIER_BUDGET_URL`` (its password masked), and the Haier call is not made: no call is ever
made outside the budget.

The client library is psycopg2 (the ``postgres`` extra), the one Dagster's own Postgres
storage uses, so a deployment that keeps Dagster's runs in Postgres installs one driver.
"""

from __future__ import annotations

import math
import os
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from haier_pipeline.environment import (
    HAIER_BUDGET_URL,
    HAIER_RATE_LIMIT,
    MAX_RATE_LIMIT,
    SettingError,
)
from haier_pipeline.haier.budget import (
    CLAIM_KEPT_S,
    BudgetUnavailable,
    Priority,
    _checked_rate,
    budget_file,
)
from haier_pipeline.haier.masking import mask, register_secrets

if TYPE_CHECKING:
    from psycopg2.extensions import connection as Connection

TABLE = "haier_call_budget"
WINDOW_S = 1.0
MIN_HEADROOM_S = 0.015
"""No more than ``rate`` calls go within ``WINDOW_S + MIN_HEADROOM_S``, plus twice the caller's
recent lag (below): calls reach a gateway some milliseconds after they are granted (tens on a
busy CPU). The file budget's fixed 30 ms cost 3 % of the pace everywhere; the lag covers a busy
machine. Four jobs at 40/s on one client_id (load 5-6): 5 ms put 41 calls into one gateway
second once in four runs, 15 ms 40 in four."""
MAX_CLAIMS = 64
"""Order claims kept in the row at once (the oldest go first), as the file budget keeps."""
MAX_PENDING = 1024
"""More callers waiting at once than this is no real deployment (32 threads x 32 jobs): a next
slot further ahead is a wrong value (the database clock stepped back), taken for now."""
RATE_KEPT_S = 60.0
"""A row unused this long may take a new rate; while it is in use, another rate is refused."""
LAG_FACTOR = 2.0
MAX_LAG_HEADROOM_S = 0.1
LAG_HALF_LIFE_S = 2.0
"""The window's headroom grows by ``LAG_FACTOR`` times this process's recent lag (at most
``MAX_LAG_HEADROOM_S``): the longest recent wait between a send's stamp and its answer, or
late wake from a sleep, a peak that halves every ``LAG_HALF_LIFE_S``. See
:meth:`PostgresBudget._window_s`."""
POOL_SIZE = 4
CONNECT_TIMEOUT_S = 10
LOCK_TIMEOUT_S = 10
URL_VARIABLE = HAIER_BUDGET_URL.name
RUN_AGAIN = "launch the run again. No Haier call was made."

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS haier_call_budget (
    budget_key text PRIMARY KEY,
    rate double precision NOT NULL,
    next_slot timestamptz NOT NULL DEFAULT '-infinity',
    claims timestamptz[] NOT NULL DEFAULT '{}',
    sends timestamptz[] NOT NULL DEFAULT '{}',
    used_at timestamptz NOT NULL DEFAULT clock_timestamp()
)"""
COMMENT_TABLE = """
COMMENT ON TABLE haier_call_budget IS 'The Haier call budget of each client_id (hashed), shared
by every machine: see haier_pipeline/haier/budget_postgres.py'"""

# The row, or a new rate for it when nobody used it for RATE_KEPT_S; returns the rate in force.
ENSURE_ROW = """
INSERT INTO haier_call_budget AS b (budget_key, rate) VALUES (%(key)s, %(rate)s)
ON CONFLICT (budget_key) DO UPDATE
SET rate = CASE WHEN b.used_at < clock_timestamp() - %(rate_kept)s THEN excluded.rate
                ELSE b.rate END
RETURNING b.rate"""


def _next_slot(now: str) -> str:
    """The next free slot, as the timeline stands at ``now`` (a value too far ahead: now)."""
    return f"""CASE WHEN b.next_slot > {now} + %(horizon)s THEN {now}
                ELSE greatest(b.next_slot, {now}) END"""


RESERVE = f"""
WITH clock AS MATERIALIZED (SELECT clock_timestamp() AS now)
UPDATE haier_call_budget AS b
SET next_slot = {_next_slot("clock.now")} + %(step)s, used_at = clock.now
FROM clock
WHERE b.budget_key = %(key)s AND b.rate = %(rate)s
RETURNING b.next_slot - %(step)s AS slot,
          extract(epoch FROM b.next_slot - %(step)s - clock.now)::float8 AS delay"""

# The row as it stands, locked, with wrong values dropped (see the module docstring). The
# clock is read once the row is locked (``stamped`` reads ``locked`` first): read before a
# wait for the lock, it would be older than the sends the holder just recorded.
_CURRENT = f"""
locked AS MATERIALIZED (
    SELECT b.* FROM haier_call_budget AS b
    WHERE b.budget_key = %(key)s AND b.rate = %(rate)s
    FOR UPDATE
),
stamped AS MATERIALIZED (SELECT locked.*, clock_timestamp() AS now FROM locked),
cur AS (
    SELECT b.budget_key, b.now, {_next_slot("b.now")} AS next_slot,
           ARRAY(SELECT c FROM unnest(b.claims) AS c
                 WHERE c > b.now - %(claim_kept)s AND c <= b.now + %(horizon)s
                 ORDER BY c DESC LIMIT %(max_claims)s - 1) AS claims,
           ARRAY(SELECT s FROM unnest(b.sends) AS s WHERE s <= b.now) AS sends
    FROM stamped AS b
)"""

CLAIM = f"""
WITH {_CURRENT},
pick AS (
    SELECT cur.*, coalesce(
        (SELECT min(s) FROM generate_series(cur.next_slot - %(step)s, cur.now, -%(step)s) AS s
         WHERE s > cur.now AND s <> ALL (cur.claims)),
        cur.next_slot) AS slot
    FROM cur
)
UPDATE haier_call_budget AS b
SET next_slot = CASE WHEN pick.slot = pick.next_slot THEN pick.next_slot + %(step)s
                     ELSE pick.next_slot END,
    claims = array_append(pick.claims, pick.slot),
    used_at = pick.now
FROM pick
WHERE b.budget_key = pick.budget_key
RETURNING pick.slot, extract(epoch FROM pick.slot - pick.now)::float8 AS delay"""

# %(slot)s: the bulk caller's slot (NULL for an order call, whose slot is its own claim).
# %(window)s: calls allowed within %(window_s)s (NULL: not kept, above MAX_RATE_LIMIT).
SEND = f"""
WITH {_CURRENT},
decide AS (
    SELECT cur.*,
           coalesce(%(slot)s::timestamptz = ANY (cur.claims), false) AS displaced,
           CASE WHEN cardinality(cur.sends) >= %(window)s::integer
                THEN cur.sends[cardinality(cur.sends) - %(window)s::integer + 1]
                     + %(window_s)s - cur.now END AS wait
    FROM cur
),
outcome AS (
    SELECT decide.*,
           CASE WHEN displaced THEN 'displaced'
                WHEN wait > interval '0' THEN 'wait'
                ELSE 'sent' END AS outcome
    FROM decide
)
UPDATE haier_call_budget AS b
SET next_slot = CASE WHEN o.displaced THEN o.next_slot + %(step)s ELSE o.next_slot END,
    claims = CASE WHEN o.displaced THEN array_remove(o.claims, %(slot)s::timestamptz)
                  ELSE o.claims END,
    sends = CASE WHEN o.outcome <> 'sent' THEN o.sends
                 WHEN %(window)s::integer IS NULL THEN '{{}}'
                 ELSE (o.sends || o.now)[greatest(1, cardinality(o.sends) + 2
                                                     - %(window)s::integer):] END,
    used_at = o.now
FROM outcome AS o
WHERE b.budget_key = o.budget_key
RETURNING o.outcome,
          CASE WHEN o.displaced THEN o.next_slot END AS slot,
          CASE WHEN o.displaced THEN extract(epoch FROM o.next_slot - o.now)::float8
               WHEN o.outcome = 'wait' THEN extract(epoch FROM o.wait)::float8
               ELSE 0.0 END AS delay,
          extract(epoch FROM o.now - statement_timestamp())::float8 AS before_stamp"""


class PostgresBudget:
    """The budget of one client_id in one row of ``haier_call_budget``. Thread-safe.

    Up to :data:`POOL_SIZE` connections per object (one object per process:
    :func:`postgres_budget_for`), each used by one thread at a time. One was not enough: a
    statement takes about a millisecond, but on a loaded machine 5-10, and a sync's 32 threads
    at 100 calls/s send 200 statements a second.
    """

    def __init__(self, url: str, client_id: str, calls_per_second: float) -> None:
        self.url = url
        self.rate = _checked_rate(calls_per_second)
        self.step = timedelta(microseconds=math.ceil(1e6 / self.rate))
        window = math.ceil(self.rate)
        self._params: dict[str, Any] = {
            "key": client_key(client_id),
            "rate": self.rate,
            "step": self.step,
            "horizon": MAX_PENDING * self.step,
            "claim_kept": timedelta(seconds=CLAIM_KEPT_S),
            "max_claims": MAX_CLAIMS,
            "rate_kept": timedelta(seconds=RATE_KEPT_S),
            "window": window if window <= MAX_RATE_LIMIT else None,  # benchmarks go above
        }
        register_secrets(url_passwords(url))
        self._pool = threading.Condition()
        self._idle: list[Connection] = []
        self._open = 0  # connections made and not closed: idle or in use
        self._pid = os.getpid()
        self._timing = threading.local()  # round_trip: this thread's last statement's
        # The recent peak lag, and when (see _window_s). A process starts as if it had just
        # seen the largest: its first seconds (imports, connections, threads starting) are
        # the busiest, and nothing is measured yet. Halving every 2 s, it costs about 0.3 s.
        self._lag = (MAX_LAG_HEADROOM_S / LAG_FACTOR, time.monotonic())

    def acquire(self, priority: Priority = Priority.BULK) -> None:
        if priority is Priority.ORDER:
            _, delay = self._statement(CLAIM)
            checked: datetime | None = None  # an order's slot is its own claim
        else:
            checked, delay = self._statement(RESERVE)
        while True:
            late = _sleep(delay)
            outcome, slot, delay, before_stamp = self._statement(SEND, slot=checked)
            # After its stamp, the send still waits for the answer to travel back: the round
            # trip less what the server spent before the stamp (the wait for the row's lock).
            self._note_lag(max(late, self._timing.round_trip - before_stamp))
            if outcome == "sent":
                return
            if outcome == "displaced":  # an order took the slot; this is the one at the end
                checked = slot

    def _statement(self, sql: str, **extra: Any) -> Any:
        """One statement on the row; its one result row. A missing row (deleted by hand, or
        the rate changed) is made again, or the other rate refused, by :meth:`_ensure_row`.
        A connection lost (the server restarted) is made again once."""
        import psycopg2

        for attempt in (1, 2):
            with self._connection() as connection:
                try:
                    params = self._params | {"window_s": self._window_s()} | extra
                    started = time.monotonic()
                    row = _fetch(connection, sql, params)
                    self._timing.round_trip = time.monotonic() - started
                    if row is None:
                        self._ensure_row(connection)
                        row = _fetch(connection, sql, params)
                except psycopg2.Error as error:
                    if not connection.closed or attempt == 2:
                        raise unavailable(self.url, error) from None
                    continue  # the closed connection leaves the pool
            if row is None:
                raise BudgetUnavailable(
                    f"the call budget at {where(self.url)} lost its row while in use"
                )
            return row
        raise AssertionError("unreachable")

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A connection of the pool for one statement: an idle one, a new one (made with the
        table and the row) while fewer than POOL_SIZE are open, else the next one freed."""
        with self._pool:
            if self._pid != os.getpid():
                # A forked child must not share its parent's connections, nor close them:
                # closing would end the parent's sessions.
                _INHERITED.extend(self._idle)
                self._idle, self._open, self._pid = [], 0, os.getpid()
            while not self._idle and self._open >= POOL_SIZE:
                self._pool.wait()
            connection = self._idle.pop() if self._idle else None
            if connection is None:
                self._open += 1
        try:
            if connection is None:
                connection = self._new_connection()
            yield connection
        finally:
            with self._pool:
                if connection is None or connection.closed:
                    self._open -= 1
                else:
                    self._idle.append(connection)
                self._pool.notify()

    def _new_connection(self) -> Connection:
        connection = connect(self.url)
        try:
            self._ensure_row(connection)
        except BaseException:
            connection.close()
            raise
        return connection

    def _window_s(self) -> timedelta:
        """The window: :data:`WINDOW_S` + :data:`MIN_HEADROOM_S` + ``LAG_FACTOR`` x the recent
        lag. A send is stamped inside the statement and made after its answer arrives: L
        seconds after the stamp, L being the round trip less the wait for the row's lock (which
        comes before the stamp). On a CPU so busy that callers wake late, calls reach the
        gateway later still, in bunches;
        widening the window by the lag keeps the calls of any one second at the gateway within
        the rate. On an idle machine the lag is about a millisecond; on a loaded one, tens."""
        extra = min(LAG_FACTOR * self._current_lag(), MAX_LAG_HEADROOM_S)
        return timedelta(seconds=WINDOW_S + MIN_HEADROOM_S + extra)

    def _current_lag(self) -> float:
        peak, at = self._lag
        return peak * math.pow(0.5, (time.monotonic() - at) / LAG_HALF_LIFE_S)

    def _note_lag(self, seconds: float) -> None:
        """How long a send waited after its stamp, or how late a sleep ended: the peak if
        above the decayed one. (Two
        threads noting at once may lose one of the two: a lag a moment too small.)"""
        if seconds > self._current_lag():
            self._lag = (seconds, time.monotonic())

    def _ensure_row(self, connection: Connection) -> None:
        """The row for this client_id (and the table first, if missing), at our rate."""
        import psycopg2

        try:
            row = _fetch(connection, ENSURE_ROW, self._params)
        except psycopg2.errors.UndefinedTable:
            create_table(connection)
            row = _fetch(connection, ENSURE_ROW, self._params)
        (rate,) = row
        if rate != self.rate:
            raise BudgetUnavailable(
                f"{HAIER_RATE_LIMIT.name} is {self.rate:g} calls/s here, but another process "
                f"uses {rate:g} calls/s for this client_id in the call budget at "
                f"{where(self.url)}; give every process of one client_id the same rate"
            )


def connect(url: str, then: str = RUN_AGAIN) -> Connection:
    """An autocommit connection to the budget's database, or BudgetUnavailable (one line
    ending with ``then``, what to do after the fix)."""
    try:
        import psycopg2
    except ImportError:
        raise BudgetUnavailable(
            f"{URL_VARIABLE} is set but psycopg2 is not installed; install the postgres extra "
            "(pip install 'haier-pipeline[postgres]')"
        ) from None
    register_secrets(url_passwords(url))
    try:
        connection = psycopg2.connect(
            url,
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name="haier-pipeline call budget",
            keepalives=1,
            keepalives_idle=30,
        )
        connection.autocommit = True
        with connection.cursor() as cursor:  # not options=: the URL's own options stay
            cursor.execute("SELECT set_config('lock_timeout', %s, false)", (f"{LOCK_TIMEOUT_S}s",))
    except psycopg2.Error as error:
        raise unavailable(url, error, then) from None
    return connection


def create_table(connection: Connection) -> None:
    """Create ``haier_call_budget`` unless it is there (at first use, or ``budget init``)."""
    import psycopg2

    try:
        with connection.cursor() as cursor:
            cursor.execute(CREATE_TABLE)
            cursor.execute(COMMENT_TABLE)
    except (psycopg2.errors.UniqueViolation, psycopg2.errors.DuplicateTable):
        pass  # another process created it at the same moment


def init_table(url: str) -> None:
    """``haier-pipeline budget init``: the table, made before any run needs it."""
    import psycopg2

    again = "run it again."
    connection = connect(url, again)
    try:
        create_table(connection)
    except psycopg2.Error as error:
        raise unavailable(url, error, again) from None
    finally:
        connection.close()


def budget_url() -> str:
    """HAIER_BUDGET_URL, or "" when unset; BudgetUnavailable (one line) when it is no
    postgresql:// URL."""
    try:
        return HAIER_BUDGET_URL.value(HAIER_BUDGET_URL.text())
    except SettingError as problem:
        raise BudgetUnavailable(str(problem)) from None


def client_key(client_id: str) -> str:
    """The row's key: the hash that names the client_id's budget file, so the client_id itself
    is written nowhere."""
    return budget_file(Path(), client_id).stem


def where(url: str) -> str:
    """The setting and its value, password masked, for messages."""
    return f"{URL_VARIABLE}={mask(url)}"


def unavailable(url: str, error: BaseException, then: str = RUN_AGAIN) -> BudgetUnavailable:
    """The one line for a budget database that cannot be reached or used."""
    reason = " ".join(str(error).split()) or type(error).__name__
    return BudgetUnavailable(
        f"the call budget at {where(url)} cannot be used ({mask(reason)}); start the database "
        f"or fix {URL_VARIABLE} (unset it to use one machine's budget files), then {then}"
    )


def _fetch(connection: Connection, sql: str, params: dict[str, Any]) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _sleep(delay: float) -> float:
    """Sleep ``delay`` seconds; how much later than that the sleep ended."""
    if delay <= 0:
        return 0.0
    woke = time.monotonic() + delay
    time.sleep(delay)
    return max(0.0, time.monotonic() - woke)


def url_passwords(url: str) -> list[str]:
    """The passwords this URL's connection uses: in the URL, as ``?password=``, or PGPASSWORD
    (libpq's own variable, read by libpq; named here only to mask it)."""
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    return [
        value
        for value in (parts.password, query.get("password"), os.environ.get("PGPASSWORD"))
        if value
    ]


_INHERITED: list[Connection] = []
"""Connections a forked child inherited: kept open and unused for the parent's sake."""
_REGISTRY: dict[tuple[str, str, float], PostgresBudget] = {}
_REGISTRY_LOCK = threading.Lock()


def postgres_budget_for(url: str, client_id: str, calls_per_second: float) -> PostgresBudget:
    """This process's budget object for the client_id (made on first use; it connects at the
    first call)."""
    key = (url, client_id, calls_per_second)
    with _REGISTRY_LOCK:
        budget = _REGISTRY.get(key)
        if budget is None:
            budget = _REGISTRY[key] = PostgresBudget(url, client_id, calls_per_second)
        return budget
