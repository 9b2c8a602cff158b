"""Does each credential work? One token and one minimal, read-only call per credential.

The Django admin this pipeline replaced had a "test connection" button; this is its engine,
free of Dagster (the ``check_connection`` job wraps it). Each probe is the smallest call that
exercises one credential: a products lookup of one code for HAIER_PASSWORD, one stock query
for the seller password, the balance for the customer password, and for YLH a logistics
lookup of an order number that does not exist. Nothing is written anywhere.

A probe's outcome is *ok*, *refused* (Haier named a setting the user must fix: the variable
comes from :func:`~haier_pipeline.haier.errors.remedy`, the one map of refusals), or
*unreachable* (timeouts, 5xx, a gateway that does not answer JSON). A refusal that is not
about the credential (PRODUCT_NOT_FOUND for the sample code) means the credential passed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from haier_pipeline.haier.errors import (
    HaierAuthError,
    HaierBusinessError,
    HaierError,
    remedy,
    short_reason,
)
from haier_pipeline.haier.jsh import JshClient
from haier_pipeline.haier.ylh import YlhClient

OK = "ok"
REFUSED = "refused"
UNREACHABLE = "unreachable"
NOT_CHECKED = "not checked"
TOKEN_REFUSED = "token refused"
SAMPLE_SO = "SO.19700101.000000"  # an order number no account has: a read that finds nothing

JSH_TOKEN = "JSH token (HAIER_CLIENT_ID, HAIER_CLIENT_SECRET)"
YLH_TOKEN = "YLH token (YLH_CLIENT_ID, YLH_CLIENT_SECRET, YLH_USERNAME, YLH_PASSWORD)"
PASSWORD = "HAIER_PASSWORD (products)"
SELLER_PASSWORD = "HAIER_SELLER_PASSWORD (stock)"
CUSTOMER_PASSWORD = "HAIER_CUSTOMER_PASSWORD (balance)"


@dataclass(frozen=True)
class Probe:
    """One credential's answer: ``code`` is Haier's (or the HTTP status), ``fix`` what to do."""

    credential: str
    outcome: str
    code: str = ""
    fix: str = ""
    detail: str = ""


def check_jsh(client: JshClient, product_code: str, county_code: str) -> list[Probe]:
    """The JSH token, then products, stock and balance; each call is one request."""
    # The first call fetches the token, so its answer also tells whether the token came.
    products = _probe(PASSWORD, lambda: client.procurable_products([product_code]))
    if products.code == TOKEN_REFUSED:
        passwords = (PASSWORD, SELLER_PASSWORD, CUSTOMER_PASSWORD)
        untried = [Probe(name, NOT_CHECKED, detail="needs a JSH token") for name in passwords]
        return [_named(products, JSH_TOKEN), *untried]
    token = Probe(JSH_TOKEN, UNREACHABLE if products.outcome == UNREACHABLE else OK)
    return [
        token,
        products,
        _probe(SELLER_PASSWORD, lambda: client.stock(product_code, county_code)),
        _probe(CUSTOMER_PASSWORD, client.balance),
    ]


def check_ylh(client: YlhClient) -> Probe:
    """The YLH password grant, exercised by a read that finds nothing."""
    return _probe(YLH_TOKEN, lambda: client.logistics_numbers([SAMPLE_SO]))


def summary(probes: Sequence[Probe]) -> str:
    """One line: counts, then each credential that needs a person and what to do."""
    counts = {o: sum(p.outcome == o for p in probes) for o in (OK, REFUSED, UNREACHABLE)}
    text = ", ".join(f"{n} {o}" for o, n in counts.items())
    problems = [
        f"{p.credential}: {p.outcome}"
        + (f" ({p.code})" if p.code else "")
        + (f", {p.fix}" if p.fix else "")
        for p in probes
        if p.outcome in (REFUSED, UNREACHABLE)
    ]
    return f"check_connection: {text}" + ("; " + "; ".join(problems) if problems else "")


def table(probes: Sequence[Probe]) -> str:
    """A Markdown table of the probes, for the run's metadata."""
    lines = ["| credential | outcome | Haier's code | what to fix |", "|---|---|---|---|"]
    for p in probes:
        cells = (p.credential, p.outcome, p.code, p.fix or p.detail)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def _named(probe: Probe, credential: str) -> Probe:
    return Probe(credential, probe.outcome, probe.code, probe.fix, probe.detail)


def _probe(credential: str, call: Callable[[], Any]) -> Probe:
    try:
        call()
    except HaierAuthError as error:
        fix = remedy(error)
        fix_text = fix.text() if fix else ""
        return Probe(credential, REFUSED, TOKEN_REFUSED, fix_text, short_reason(error))
    except HaierError as error:
        fix = remedy(error)
        code = error.code if isinstance(error, HaierBusinessError) else short_reason(error)
        if fix is not None:
            return Probe(credential, REFUSED, code, fix.text(), short_reason(error))
        if isinstance(error, HaierBusinessError):
            # Refused for the sample record, not for the credential: the credential passed.
            return Probe(credential, OK, code, detail=f"answered {short_reason(error)}")
        return Probe(credential, UNREACHABLE, code, detail=str(error))
    return Probe(credential, OK)
