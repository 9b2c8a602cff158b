"""The op behind check_connection: probes each credential, writes nothing."""

from typing import Any

from dagster import Config, Failure, MetadataValue, OpExecutionContext, Output, op
from pydantic import Field

from haier_pipeline import environment as env
from haier_pipeline.dagster_defs.resources import HaierApiResource, YlhResource
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
    context: OpExecutionContext, config: CheckConnectionConfig, haier: HaierApiResource
) -> Output[None]:
    """A token from JSH and YLH, then one read per credential; a table in the run's metadata."""
    product = config.product_code.strip() or _first(env.HAIER_PRODUCT_CODES, SAMPLE_PRODUCT)
    county = config.county_code.strip() or _first(env.HAIER_COUNTY_CODES, SAMPLE_COUNTY)
    with haier.client() as jsh:
        probes = connection.check_jsh(jsh, product, county)
    probes.append(_ylh_probe())
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


def _first(variable: env.Variable[list[str]], fallback: str) -> str:
    try:
        codes = variable.value(variable.text())
    except env.SettingError:
        return fallback
    return codes[0] if codes else fallback


def _ylh_probe() -> Probe:
    """YLH is optional for a catalog-only setup: unset variables are reported, not fatal."""
    ylh = YlhResource.from_env_now()
    try:
        settings = ylh.settings()
    except Failure as missing:
        return Probe(connection.YLH_TOKEN, connection.NOT_CHECKED, detail=missing.description or "")
    with YlhClient(settings) as client:
        return connection.check_ylh(client)
