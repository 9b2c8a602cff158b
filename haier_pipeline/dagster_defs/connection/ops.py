"""The op behind check_connection: probes each credential, writes nothing."""

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from dagster import Config, Failure, MetadataValue, OpExecutionContext, Output, op
from pydantic import Field

from haier_pipeline import environment as env
from haier_pipeline.accounts import Account
from haier_pipeline.dagster_defs.failures import user_errors
from haier_pipeline.dagster_defs.resources import AccountsResource, HaierApiResource, YlhResource
from haier_pipeline.haier import connection
from haier_pipeline.haier.connection import Probe
from haier_pipeline.haier.ylh import YlhClient

SAMPLE_PRODUCT = (
    "GA0SZC00U"  # haier-api.md's example code; an unknown code still tests the password
)
SAMPLE_COUNTY = "110101"


class CheckConnectionConfig(Config):
    product_code: str = Field(
        default="",
        description="Product code for the products and stock probes; empty: the first of "
        f"HAIER_PRODUCT_CODES, else {SAMPLE_PRODUCT}.",
    )
    county_code: str = Field(
        default="",
        description=f"County for the stock probe; empty: the first of HAIER_COUNTY_CODES, else "
        f"{SAMPLE_COUNTY}.",
    )


@op
def probe_credentials(
    context: OpExecutionContext,
    config: CheckConnectionConfig,
    haier: HaierApiResource,
    haier_accounts: AccountsResource,
) -> Output[None]:
    """For each account: a token from JSH and YLH, then one read per credential; a table in
    the run's metadata. With an accounts file each row names its account."""
    accounts = haier_accounts.accounts()
    probes: list[Probe] = []
    with user_errors("check_connection"):  # e.g. a call budget that cannot be used
        for account in accounts:
            found = _account_probes(config, haier, account)
            if not account.from_environment:
                found = [_of_account(p, account) for p in found]
            probes += found
    line = connection.summary(probes)
    metadata: dict[str, Any] = {
        "credentials": MetadataValue.md(connection.table(probes)),
        **{o: sum(p.outcome == o for p in probes) for o in _OUTCOMES},
    }
    context.log.info(line)
    if any(p.outcome in (connection.REFUSED, connection.UNREACHABLE) for p in probes):
        raise Failure(description=line, metadata=metadata, allow_retries=False)
    return Output(None, metadata=metadata)


_OUTCOMES = (connection.OK, connection.REFUSED, connection.UNREACHABLE)


def _first(variable: env.Variable[list[str]]) -> str:
    return _codes(lambda: variable.value(variable.text()))


def _account_probes(
    config: CheckConnectionConfig, haier: HaierApiResource, account: Account
) -> list[Probe]:
    if account.from_environment:
        products, counties = _first(env.HAIER_PRODUCT_CODES), _first(env.HAIER_COUNTY_CODES)
    else:
        products, counties = _codes(account.product_codes), _codes(account.county_codes)
    product = config.product_code.strip() or products or SAMPLE_PRODUCT
    county = config.county_code.strip() or counties or SAMPLE_COUNTY
    try:
        with haier.client(account) as jsh:
            probes = connection.check_jsh(jsh, product, county)
    except Failure as unusable:  # this account's settings: reported, the others still probed
        detail = unusable.description or ""
        probes = [Probe(connection.JSH_TOKEN, connection.NOT_CHECKED, detail=detail)]
    return [*probes, _ylh_probe(account)]


def _ylh_probe(account: Account) -> Probe:
    """YLH is optional for a catalog-only setup: unset variables are reported, not fatal."""
    try:
        if account.from_environment:
            settings = YlhResource.from_env_now().settings()
        else:
            settings = account.ylh_settings()
    except (Failure, env.SettingError) as missing:
        detail = getattr(missing, "description", None) or str(missing)
        return Probe(connection.YLH_TOKEN, connection.NOT_CHECKED, detail=detail)
    with YlhClient(settings) as client:
        return connection.check_ylh(client)


def _of_account(probe: Probe, account: Account) -> Probe:
    """The probe as an accounts-file operator reads it: the account's name first, and the
    account's own variables named where the HAIER_* ones would be."""
    credential, fix = probe.credential, probe.fix
    for haier_name, own_name in account.variable_names().items():
        credential = credential.replace(haier_name, own_name)
        fix = fix.replace(haier_name, own_name)
    return replace(probe, credential=f"{account.name}: {credential}", fix=fix)


def _codes(read: Callable[[], list[str]]) -> str:
    try:
        codes = read()
    except env.SettingError:
        return ""
    return codes[0] if codes else ""
