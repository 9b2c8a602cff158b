"""Loading 1,000,000 stock rows through the real storage path, in seconds.

The rows go the way a catalog sync's do: Arrow batches of ``FLUSH_ROWS`` appended to a run's
``Staging`` file (with the scope keys, as ``CatalogSync`` appends them), then
``Warehouse.publish_catalog`` swaps them into ``stock`` in one transaction and publishes the
file analysts read. It loads twice: into an empty warehouse (first sync) and over the first
load (every later sync, which also works out which rows to carry over). Generating the rows
is timed apart: it stands for the API calls, not for the loader.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
from harness import machine, markdown_table

from haier_pipeline.catalog.sync import FLUSH_ROWS
from haier_pipeline.storage.schema import STOCK
from haier_pipeline.storage.staging import Staging
from haier_pipeline.storage.warehouse import SyncOutcome, Warehouse

TARGET_S = 10.0
CUT_TIMES = pa.array(["12:00", "16:00", "17:00", "18:00"])


def stock_batches(rows: int, counties: int, batch_rows: int) -> Iterator[pa.Table]:
    """Deterministic stock rows of ``rows // counties`` products, ``batch_rows`` at a time."""
    rng = np.random.default_rng(42)
    synced_at = datetime.now(UTC)
    first_day = np.datetime64(date.today(), "D")
    for start in range(0, rows, batch_rows):
        n = min(batch_rows, rows - start)
        index = np.arange(start, start + n)
        county = 110101 + index % counties
        product = np.char.zfill((index // counties).astype(str), 8)
        columns = {
            "product_code": pa.array(np.char.add("P", product)),
            "county_code": pa.array(county.astype(str)),
            "stock_qty": pa.array(rng.integers(0, 120, n, dtype=np.int32)),
            "warehouse_code": pa.array(np.char.add("WH", (county % 90 + 10).astype(str))),
            "warehouse_grade": pa.array(np.where(index % 5 == 0, "1", "0")),
            "cut_time": CUT_TIMES.take(pa.array(index % 4)),
            "expected_delivery_date": pa.array(first_day + rng.integers(1, 4, n)),
            "delivery_hours": pa.array(rng.choice([24, 48, 72], n).astype(np.int32)),
            "is_transfer": pa.array(index % 5 == 0),
            "warehouse_count": pa.array(np.where(index % 5 == 0, 2, 1).astype(np.int32)),
            "synced_at": pa.array(np.full(n, synced_at), pa.timestamp("us", tz="UTC")),
        }
        yield pa.table(columns).cast(STOCK.arrow_schema)


def load(warehouse: Warehouse, run_id: str, batches: list[pa.Table]) -> tuple[float, float, int]:
    """Stage and publish the batches as one sync would; returns (stage s, publish s, rows)."""
    log_id = warehouse.start_sync(run_id, "stock")
    staging = Staging(warehouse.staging_dir / f"{run_id}.duckdb", [STOCK])
    started = time.perf_counter()
    for batch in batches:
        staging.append("scope_stock", batch.select(list(STOCK.key)))
        staging.append("stock", batch)
    staging.close()
    staged = time.perf_counter()
    total = sum(batch.num_rows for batch in batches)
    outcome = SyncOutcome(log_id, "success", total, total, 0, 0, f"loaded {total} stock rows")
    counts = warehouse.publish_catalog(staging.path, [STOCK], [outcome])
    published = time.perf_counter()
    staging.discard()
    return staged - started, published - staged, counts[STOCK.name]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="stock rows (default 1e6)")
    parser.add_argument("--counties", type=int, default=3, help="counties per product (3)")
    args = parser.parse_args(argv)
    started_on = machine()
    started = time.perf_counter()
    batches = list(stock_batches(args.rows, args.counties, FLUSH_ROWS))
    generated_s = time.perf_counter() - started

    rows = []
    with tempfile.TemporaryDirectory(prefix="haier-load-") as tmp:
        warehouse = Warehouse(Path(tmp) / "haier.duckdb")
        for run_id, label in (("first", "into an empty warehouse"), ("second", "over the first")):
            stage_s, publish_s, count = load(warehouse, run_id, batches)
            if count != args.rows:
                raise SystemExit(f"stock holds {count} rows after loading {label}, not {args.rows}")
            total_s = stage_s + publish_s
            verdict = "met" if total_s < TARGET_S else "MISSED"
            rows.append((label, count, len(batches), stage_s, publish_s, total_s, verdict))
        size_mb = warehouse.path.stat().st_size / 2**20
    print(
        f"{args.rows:,} stock rows in Arrow batches of {FLUSH_ROWS:,} "
        f"(generated in {generated_s:.1f} s, not counted); published file {size_mb:.0f} MB; "
        f"{started_on} at start"
    )
    headers = ("load", "rows", "batches", "staging s", "publish s", "total s", f"< {TARGET_S:g} s")
    print(markdown_table(headers, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
