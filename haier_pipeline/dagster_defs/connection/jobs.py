"""check_connection: launch it from the UI (Jobs → check_connection) or the CLI
(``dagster job execute -m haier_pipeline -j check_connection``) after changing a credential."""

from dagster import in_process_executor, job

from haier_pipeline.dagster_defs.connection.ops import probe_credentials


@job(executor_def=in_process_executor, tags={"haier/area": "connection"})
def check_connection() -> None:
    """Per credential: a token from JSH and YLH, one minimal read; ok, refused or unreachable.
    Writes nothing, neither the catalog nor sync_log."""
    probe_credentials()


CONNECTION_JOBS = [check_connection]
