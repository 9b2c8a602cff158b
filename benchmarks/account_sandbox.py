"""A sandbox process whose one account has the client_id given: several accounts, several gateways.

``python -m haier_pipeline.sandbox`` always serves the same sandbox account, so every sandbox
would share one client_id and therefore one call budget; ``many_accounts.py`` needs each
account to have its own. Prints the same ``export`` lines and closing line as the sandbox's
CLI, which :class:`harness.SandboxProcess` reads.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import threading

from haier_pipeline.sandbox import SandboxServer
from haier_pipeline.sandbox.auth import SandboxAccount
from haier_pipeline.sandbox.catalog import generate_catalog
from haier_pipeline.sandbox.faults import FaultConfig


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--products", type=int, default=500)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--rate-limit", type=float, default=100.0)
    args = parser.parse_args()
    account = SandboxAccount(client_id=args.client_id, ylh_client_id=f"{args.client_id}-ylh")
    server = SandboxServer(
        generate_catalog(args.products, 42),
        port=args.port,
        rate_limit=args.rate_limit,
        faults=FaultConfig(latency_s=args.latency_ms / 1000),
        account=account,
    )
    with server:
        for name, value in server.env().items():
            print(f"export {name}={shlex.quote(value)}")
        print("Ctrl-C stops the sandbox.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
