"""``python -m haier_pipeline.sandbox``: run the emulator in its own process until Ctrl-C.

Benchmarks and the README demo drive a sandbox in another process; this prints everything they
need (base URLs, admin URL, the env vars to export) and takes every fault switch as a flag.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import threading
from collections import Counter

from haier_pipeline.sandbox.catalog import SandboxCatalog, generate_catalog
from haier_pipeline.sandbox.faults import FaultConfig
from haier_pipeline.sandbox.server import SandboxServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m haier_pipeline.sandbox",
        description="Local emulator of the Haier JSH and YLH APIs, bound to 127.0.0.1.",
    )
    add = parser.add_argument
    add("--port", type=int, default=8765, help="TCP port; 0 picks a free one (default 8765)")
    add("--products", type=int, default=500, help="catalog size (default 500)")
    add("--seed", type=int, default=42, help="catalog seed (default 42)")
    add("--rate-limit", type=float, default=100.0, help="calls/s per client_id; 0 = unlimited")
    add("--token-ttl", type=float, default=3600.0, help="token lifetime in seconds")
    add("--latency-ms", type=float, default=0.0, help="base latency of every call")
    add("--error-rate", type=float, default=0.0, help="fraction answered 500/502/503/504")
    add("--drop-rate", type=float, default=0.0, help="fraction of connections closed unanswered")
    add("--html-rate", type=float, default=0.0, help="fraction answered with an HTML page")
    add("--slow-rate", type=float, default=0.0, help="fraction delayed by --slow-ms more")
    add("--slow-ms", type=float, default=0.0, help="extra delay of slow calls")
    add("--burst-429-every", type=int, default=0, help="every N calls a 429 burst starts; 0 = off")
    add("--burst-429-length", type=int, default=3, help="calls per 429 burst")
    add("--revoke-tokens-every", type=int, default=0, help="revoke all tokens every N calls")
    add("--malformed", type=int, default=0, help="number of products whose records break")
    add("--fault-seed", type=int, default=0, help="seed of the fault RNG")
    add(
        "--refusal-code",
        type=_text,
        help="answer every business refusal with this code (e.g. E-7731), as a gateway whose "
        "codes the client has never seen",
    )
    add("--refusal-message", type=_text, help="and with this message (e.g. 密码错误)")
    return parser


def _text(value: str) -> str:
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return value


def _faults(args: argparse.Namespace) -> FaultConfig:
    return FaultConfig(
        latency_s=args.latency_ms / 1000,
        error_rate=args.error_rate,
        burst_429_every=args.burst_429_every,
        burst_429_length=args.burst_429_length,
        revoke_tokens_every=args.revoke_tokens_every,
        drop_rate=args.drop_rate,
        html_rate=args.html_rate,
        slow_rate=args.slow_rate,
        slow_s=args.slow_ms / 1000,
        seed=args.fault_seed,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox until interrupted; 0 on Ctrl-C, 2 on bad arguments or a busy port."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        faults = _faults(args)
        catalog = generate_catalog(args.products, args.seed)
        if args.malformed:
            malformed = FaultConfig.malformed_sample(catalog, args.malformed, args.fault_seed)
            faults = dataclasses.replace(faults, malformed_codes=malformed)
    except ValueError as exc:
        parser.error(str(exc))
    server = SandboxServer(
        catalog,
        port=args.port,
        rate_limit=args.rate_limit,
        faults=faults,
        token_ttl_s=args.token_ttl,
        refusal_code=args.refusal_code,
        refusal_message=args.refusal_message,
    )
    try:
        server.start()
    except OSError as exc:
        print(
            f"cannot listen on 127.0.0.1:{args.port}: {exc}; pick another --port", file=sys.stderr
        )
        return 2
    try:
        _announce(server, args)
        threading.Event().wait()
    except KeyboardInterrupt:
        print("sandbox stopped", flush=True)
    finally:
        server.stop()
    return 0


def procurable_summary(catalog: SandboxCatalog) -> str:
    """How many of the products can be ordered, and why the others cannot.

    Orders are only pushed for procurable products, so someone writing test orders against
    ``--products N`` needs to know that not all N qualify (about 10 % are not procurable, like
    Haier's own catalog, and about 5 % have no price in force).
    """
    procurable = catalog.procurable
    refused = Counter(p.not_procurable_reason for p in catalog.products if not p.procurable)
    reasons = ", ".join(f"{reason} {count}" for reason, count in refused.most_common())
    unpriced = sum(1 for p in procurable if p.supply_price is None)
    text = f"{len(procurable)} of {len(catalog)} procurable"
    if refused:
        text += f"; {sum(refused.values())} not procurable ({reasons})"
    if unpriced:
        text += f"; {unpriced} procurable without a price in force (价格未生效)"
    return text


def _refusals(server: SandboxServer) -> str:
    if not (server.refusal_code or server.refusal_message):
        return ""
    code = server.refusal_code or "(its own code)"
    message = server.refusal_message or "(its own message)"
    return f"  refusals:      every business refusal answers {code} {message}\n"


def _announce(server: SandboxServer, args: argparse.Namespace) -> None:
    limit = f"{args.rate_limit:g}/s per client" if args.rate_limit else "unlimited"
    print(
        f"Haier sandbox: {len(server.catalog)} products, seed {args.seed}, rate limit {limit}\n"
        f"  products:      {procurable_summary(server.catalog)}\n"
        f"  JSH base URL:  {server.base_url}\n"
        f"  YLH base URL:  {server.ylh_base_url}\n"
        f"  YLH token URL: {server.ylh_auth_url}\n"
        f"  admin:         {server.base_url}/_sandbox/stats\n"
        f"{_refusals(server)}"
        "Environment for the pipeline (sandbox-only dummy credentials):",
    )
    for name, value in server.env().items():
        print(f"export {name}={shlex.quote(value)}")
    print("Ctrl-C stops the sandbox.", flush=True)
