"""Admin endpoints under /_sandbox/: drive a sandbox that runs in another process.

Benchmarks and CLI tests cannot reach into another process's ``SandboxServer``; these plain
JSON endpoints (no auth, never faulted) give them the same controls over HTTP.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING
from urllib.parse import unquote

from haier_pipeline.sandbox import protocol as p
from haier_pipeline.sandbox import validate as v
from haier_pipeline.sandbox.faults import FaultConfig
from haier_pipeline.sandbox.httpio import Answer, json_answer
from haier_pipeline.sandbox.wire import BadRequest, failure

if TYPE_CHECKING:
    from haier_pipeline.sandbox.server import SandboxServer


def admin_answer(sandbox: SandboxServer, method: str, path: str, raw: bytes) -> Answer:
    name = path[len(p.ADMIN_PREFIX) :]
    if (method, name) == ("GET", "stats"):
        return json_answer(200, sandbox.stats())
    if (method, name) == ("POST", "reset-stats"):
        sandbox.reset_stats()
        return json_answer(200, {"reset": True})
    if (method, name) == ("GET", "faults"):
        return json_answer(200, sandbox.faults.to_dict())
    if (method, name) == ("POST", "faults"):
        return _set_faults(sandbox, raw)
    if (method, name) == ("GET", "orders"):
        return json_answer(200, sandbox.orders)
    if method == "POST" and name.startswith("orders/") and name.endswith("/advance"):
        return _advance(sandbox, unquote(name[len("orders/") : -len("/advance")]))
    return json_answer(404, failure("404", f"no such sandbox admin endpoint: {method} {path}"))


def _set_faults(sandbox: SandboxServer, raw: bytes) -> Answer:
    body = v.json_object(raw or b"{}", "faults request")
    # Fault settings are durations and fractions, not money: plain floats are right here.
    values = {k: float(x) if isinstance(x, Decimal) else x for k, x in body.items()}
    try:
        config = FaultConfig.from_mapping(values)
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"faults request: {exc}") from exc
    sandbox.faults = config
    return json_answer(200, config.to_dict())


def _advance(sandbox: SandboxServer, so_id: str) -> Answer:
    try:
        return json_answer(200, sandbox.advance_logistics(so_id))
    except KeyError as exc:
        return json_answer(404, failure("404", str(exc.args[0])))
    except ValueError as exc:
        return json_answer(409, failure("409", str(exc)))
