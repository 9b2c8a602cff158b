"""A large JSON answer kept in a temporary file and read one item at a time.

The answer that lists every procurable product is tens of MB; parsed whole it costs several
times that in Python objects, and the sync's peak memory with it. Here the body is written to
a ``SpooledTemporaryFile`` (in memory up to ``MEMORY_BYTES``, then on disk), so the
transport's retry and 401 decisions are still made on a complete body, exactly as for small
answers. One validating pass then proves the whole body is JSON before any item reaches the
caller: a truncated body or an HTML page is found while it can still be retried, never after
half a catalog has been staged. Items are then read with ijson, whose numbers are ``int`` or
``Decimal`` like :func:`jsonio.loads`, so money stays exact.

One difference from :func:`jsonio.loads`: ijson refuses the bare ``NaN`` and ``Infinity``
tokens, which are not JSON, so an answer carrying them counts as not JSON (and is retried)
rather than having only the record that holds them rejected.
"""

from __future__ import annotations

import codecs
import tempfile
from collections.abc import Collection, Iterable, Iterator
from typing import IO, Any

import ijson

from haier_pipeline.haier import jsonio

MEMORY_BYTES = 1 << 20  # bodies up to 1 MB never touch the disk
_READ_BYTES = 64 << 10

Event = tuple[str, Any]  # an ijson event name and its value ("start_array", None)


class SpooledJson:
    """A complete response body; :meth:`scan` before reading it, close it when done.

    After a successful scan, ``kind`` is the first event of the whole document
    ("start_array", "start_map", "string", ...) and ``members`` holds the first event of
    each watched top-level member, e.g. ``{"success": ("boolean", True), "data":
    ("start_array", None)}``: enough to decide where the items are without building them.
    """

    def __init__(self, chunks: Iterable[bytes]) -> None:
        # Kept open past __init__ on purpose: items(), load() or close() close it.
        self._file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=MEMORY_BYTES)  # noqa: SIM115
        try:
            for chunk in chunks:
                self._file.write(chunk)
        except BaseException:
            self._file.close()
            raise
        # json.loads accepts a UTF-8 byte-order mark (as some Windows gateways send); so do we.
        self._start = len(codecs.BOM_UTF8) if self.head(3) == codecs.BOM_UTF8 else 0
        self.kind: str | None = None
        self.members: dict[str, Event] = {}

    def head(self, size: int) -> bytes:
        """The first ``size`` bytes, for the excerpt quoted in error messages."""
        self._file.seek(0)
        return self._file.read(size)

    def scan(self, watch: Collection[str]) -> bool:
        """Parse the whole body once without building values; False if it is not JSON."""
        kind: str | None = None
        members: dict[str, Event] = {}
        try:
            for prefix, event, value in ijson.parse(self._rewound(), buf_size=_READ_BYTES):
                if kind is None:
                    kind = event
                elif prefix in watch and prefix not in members:
                    members[prefix] = (event, value)
        except (ijson.JSONError, UnicodeDecodeError):
            return False
        self.kind, self.members = kind, members
        return True

    def items(self, prefix: str) -> Iterator[Any]:
        """The values at ``prefix`` ("item", "data.item"), one at a time; closes when done."""
        try:
            yield from ijson.items(self._rewound(), prefix, buf_size=_READ_BYTES)
        finally:
            self.close()

    def load(self) -> Any:
        """The whole document, parsed as :func:`jsonio.loads` would; for small answers only."""
        try:
            return jsonio.loads(self._rewound().read())
        finally:
            self.close()

    def close(self) -> None:
        self._file.close()

    def _rewound(self) -> IO[bytes]:
        self._file.seek(self._start)
        return self._file
