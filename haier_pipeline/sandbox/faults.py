"""Fault injection: the ways a real gateway misbehaves, switchable per sandbox and at runtime.

A client is only as good as its handling of the gateway's bad days, so each fault the pipeline
must survive (haier-api.md section 1: 429, 5xx, timeouts, dropped connections, expired tokens,
malformed records) has its own switch. Draws come from a seeded RNG under a lock so a fault run
is repeatable call for call.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from haier_pipeline.sandbox.catalog import SandboxCatalog

SERVER_ERRORS = (500, 502, 503, 504)


@dataclass(frozen=True)
class FaultConfig:
    """What goes wrong, and how often. The default is a well-behaved gateway."""

    latency_s: float = 0.0  # base latency of every API call
    error_rate: float = 0.0  # fraction answered 500/502/503/504
    burst_429_every: int = 0  # every N calls a burst of 429s starts; 0 = off
    burst_429_length: int = 3  # calls per 429 burst
    revoke_tokens_every: int = 0  # every N calls all issued tokens become invalid; 0 = off
    drop_rate: float = 0.0  # fraction where the connection closes with no answer
    html_rate: float = 0.0  # fraction answered 200 with an HTML page instead of JSON
    slow_rate: float = 0.0  # fraction that wait slow_s more before answering
    slow_s: float = 0.0
    malformed_codes: frozenset[str] = field(default_factory=frozenset)  # records sent broken
    unsold_codes: frozenset[str] = field(default_factory=frozenset)  # stock refused everywhere
    seed: int = 0  # seeds the fault RNG, so a fault run repeats exactly

    def __post_init__(self) -> None:
        object.__setattr__(self, "malformed_codes", frozenset(self.malformed_codes))
        object.__setattr__(self, "unsold_codes", frozenset(self.unsold_codes))
        for name in ("error_rate", "drop_rate", "html_rate", "slow_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"FaultConfig.{name}={value} must be a fraction in [0, 1]")
        for name in ("latency_s", "slow_s", "burst_429_every", "burst_429_length"):
            if getattr(self, name) < 0:
                raise ValueError(f"FaultConfig.{name}={getattr(self, name)} must not be negative")
        if self.revoke_tokens_every < 0:
            raise ValueError("FaultConfig.revoke_tokens_every must not be negative (0 = off)")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> FaultConfig:
        """Build from JSON (the admin endpoint); unknown keys are refused, not ignored."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown fault setting(s) {unknown}; known: {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["malformed_codes"] = sorted(self.malformed_codes)
        values["unsold_codes"] = sorted(self.unsold_codes)
        return values

    @staticmethod
    def malformed_sample(catalog: SandboxCatalog, n: int, seed: int = 0) -> frozenset[str]:
        """``n`` procurable, priced codes picked by hash, so tests agree on them across runs."""
        candidates = [p.code for p in catalog if p.procurable and p.has_price]
        if n > len(candidates):
            raise ValueError(f"asked for {n} malformed codes, catalog has {len(candidates)}")
        return frozenset(sorted(candidates, key=lambda code: _hash(f"{seed}:{code}"))[:n])


def _hash(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=8).digest()


def malformed_variant(code: str) -> int:
    """Which of two breakages a malformed product record gets (stable per code)."""
    return _hash(code)[0] % 2


@dataclass(frozen=True, slots=True)
class Decision:
    """The faults drawn for one API call."""

    revoke: bool = False
    drop: bool = False
    burst_429: bool = False
    server_error: int | None = None
    html: bool = False
    slow: bool = False
    delay_s: float = 0.0


class FaultState:
    """A config plus its running counters; swapped whole when the config changes."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)
        self._lock = threading.Lock()
        self._calls = 0
        self._burst_left = 0

    def decide(self) -> Decision:
        """Draw every fault for the next call; all draws happen each call to stay repeatable."""
        c = self.config
        with self._lock:
            self._calls += 1
            draws = [self._rng.random() for _ in range(4)]
            error = SERVER_ERRORS[int(self._rng.random() * len(SERVER_ERRORS))]
            if c.burst_429_every and self._calls % c.burst_429_every == 0:
                self._burst_left = c.burst_429_length
            burst = self._burst_left > 0
            self._burst_left = max(0, self._burst_left - 1)
            revoke = bool(c.revoke_tokens_every) and self._calls % c.revoke_tokens_every == 0
        slow = draws[3] < c.slow_rate
        return Decision(
            revoke=revoke,
            drop=draws[0] < c.drop_rate,
            burst_429=burst,
            server_error=error if draws[1] < c.error_rate else None,
            html=draws[2] < c.html_rate,
            slow=slow,
            delay_s=c.latency_s + (c.slow_s if slow else 0.0),
        )
