"""Does each credential work? One token and one minimal, read-only call per credential.

The Django admin this pipeline replaced had a "test connection" button; this is its engine,
free of Dagster (the ``check_connection`` job wraps it). Each probe is the smallest call that
exercises one credential: a products lookup for HAIER_PASSWORD, one stock query for the
seller password, the balance for the customer password, and for YLH a logistics lookup of an
order number that does not exist. Nothing is written anywhere.

A probe's outcome is *ok*, *refused* or *unreachable*. Haier's business codes are not
published, so any business refusal of a probe counts as refused, whatever its code: the fix
names the one setting a known code points at (:func:`~haier_pipeline.haier.errors.remedy`),
else every setting that endpoint sends (``endpoints.SENDS``). For that to hold, the stock
probe asks for a product Haier knows: the one configured, else the first the account may
procure. *Unreachable* is a gateway that cannot be connected to or does not answer usably
(timeouts, 5xx, not JSON).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from haier_pipeline.accounts import DEFAULT_ACCOUNT, Account
from haier_pipeline.haier.errors import (
    HaierAuthError,
    HaierBusinessError,
    HaierError,
    HaierUnreachableError,
    refused_settings,
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


def check_jsh(
    client: JshClient, product_code: str, county_code: str, account: Account | None = None
) -> list[Probe]:
    """The JSH token, then products, stock and balance; each call is one request.

    ``product_code`` empty: the products probe asks for the whole list (the call a sync
    makes) and the stock probe uses its first product. Fixes name ``account``'s variables
    (default: the HAIER_* ones).
    """
    account = account or Account(DEFAULT_ACCOUNT)
    found: list[str] = []

    def probe(credential: str, call: Callable[[], Any]) -> Probe:
        return _probe(credential, call, account)

    # The first call fetches the token, so its answer also tells whether the token came.
    products = probe(PASSWORD, lambda: found.extend(_a_product(client, product_code)))
    passwords = (PASSWORD, SELLER_PASSWORD, CUSTOMER_PASSWORD)
    if products.code == TOKEN_REFUSED:
        untried = [Probe(name, NOT_CHECKED, detail="needs a JSH token") for name in passwords]
        return [_named(products, JSH_TOKEN), *untried]
    if products.outcome == UNREACHABLE:
        untried = [Probe(name, NOT_CHECKED, detail="needs the gateway") for name in passwords]
        return [_named(products, JSH_TOKEN), *untried]
    if found:
        stock = probe(SELLER_PASSWORD, lambda: client.stock(found[0], county_code))
    else:
        detail = "the account may procure no product; set product_code in the launch config"
        stock = Probe(SELLER_PASSWORD, NOT_CHECKED, detail=detail)
    return [
        Probe(JSH_TOKEN, OK),
        products,
        stock,
        probe(CUSTOMER_PASSWORD, client.balance),
    ]


def _a_product(client: JshClient, product_code: str) -> list[str]:
    """``product_code`` looked up, or the first product of the account's whole list."""
    if product_code:
        client.procurable_products([product_code])
        return [product_code]
    for chunk in client.iter_procurable_products(1):
        return [record.product_code for record in chunk.records[:1]]
    return []


def check_ylh(client: YlhClient) -> Probe:
    """The YLH password grant, exercised by a read of an order no account has.

    The grant itself checks every YLH credential: a refused one fails before the read. A
    business answer to the read is about that made-up order, not a credential, so a gateway
    that says "no such order" with a code of its own is still a working connection.
    """
    return _probe(YLH_TOKEN, lambda: client.logistics_numbers([SAMPLE_SO]), about_records=True)


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


def _probe(
    credential: str,
    call: Callable[[], Any],
    account: Account | None = None,
    about_records: bool = False,
) -> Probe:
    """Make ``call`` and judge its answer; ``about_records``: a business refusal is about the
    record asked for, not the credential (the token was granted), so the probe is ok."""
    account = account or Account(DEFAULT_ACCOUNT)
    try:
        call()
    except HaierAuthError as error:
        fix = remedy(error)
        fix_text = account.in_own_names(fix.text()) if fix else ""
        return Probe(credential, REFUSED, TOKEN_REFUSED, fix_text, short_reason(error))
    except HaierBusinessError as error:
        if about_records:
            return Probe(credential, OK, error.code, detail=f"token granted; {short_reason(error)}")
        return Probe(credential, REFUSED, error.code, _fix(error, account), short_reason(error))
    except HaierUnreachableError as error:
        return Probe(credential, UNREACHABLE, fix=str(error), detail=short_reason(error))
    except HaierError as error:
        fix = remedy(error)
        code = short_reason(error)
        if fix is not None:
            return Probe(credential, REFUSED, code, account.in_own_names(fix.text()), code)
        return Probe(credential, UNREACHABLE, code, detail=str(error))
    return Probe(credential, OK)


def _fix(error: HaierBusinessError, account: Account) -> str:
    """The one setting a known code names, else every setting the endpoint sends, in the
    names the account reads."""
    settings = refused_settings(error)
    known = remedy(error)
    if known is not None and len(settings) == 1:
        return known.text(account.variable(settings[0]))
    if known is not None or not settings:
        return account.in_own_names(known.text()) if known else "check the account's settings"
    return f"the call sends {account.variables(settings)}; check which is wrong"
