"""catalog_sync: the job users launch from the UI or the CLI to refresh the catalog."""

from dagster import AssetSelection, define_asset_job, in_process_executor

from haier_pipeline.dagster_defs.catalog.assets import CATALOG_GROUP

# In-process: the sync is one step that keeps dozens of calls in flight on threads; a
# subprocess per step would only add start-up time.
catalog_sync = define_asset_job(
    "catalog_sync",
    selection=AssetSelection.groups(CATALOG_GROUP),
    executor_def=in_process_executor,
    description="Products, prices and stock from Haier into the DuckDB catalog tables.",
)

CATALOG_JOBS = [catalog_sync]
