"""What history costs a catalog publish, and what a year of it costs analysts and the disk.

``maintenance``: 10,000 products × 30 counties (300,000 stock pairs). A first sync is
published; then a second, with 10 % of prices and 30 % of stock changed, is published through
the real ``Warehouse.publish_catalog``, once with history maintenance and once without (the
histories switched off), each in a fresh process so that its peak memory is its own. Added
time and added peak memory are the differences.

``year``: a year of daily syncs at that size, simulated directly in DuckDB (the same
change rates, every day), written as the pipeline writes its working file. Reports the
published file's size, the time of each README query against it, and a few more real syncs
published on top of the year: their time, the time of publishing alone (checkpoint and copy,
timed apart), and the file's size after each.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
from harness import machine, markdown_table

import haier_pipeline.storage.warehouse as warehouse_module
from haier_pipeline.storage.schema import HISTORIES, PRICES, PRODUCTS, STOCK
from haier_pipeline.storage.staging import Staging
from haier_pipeline.storage.warehouse import Warehouse
from haier_pipeline_tests.readme import readme_sql_statements

TABLES = (PRODUCTS, PRICES, STOCK)
ALL_HISTORIES = HISTORIES

# The first sync's catalog, generated; each later sync changes 10 % of the prices and 30 % of
# the stock pairs of the catalog published before it (chosen by a hash of key and run).
FIRST_SQL = {
    "products": """
SELECT 'P' || lpad(p::VARCHAR, 8, '0'), 'BCD-' || (p % 500), '冰箱', '海尔', NULL::VARCHAR,
       []::VARCHAR[], TRUE, NULL::VARCHAR, now()
FROM range({products}) r(p)""",
    "prices": """
SELECT 'P' || lpad(p::VARCHAR, 8, '0'), (1000 + p % 9000)::DECIMAL(18,2),
       (990 + p % 9000)::DECIMAL(18,2), 0::DECIMAL(9,4), 0::DECIMAL(18,2), 'COM', TRUE,
       NULL::VARCHAR, now()
FROM range({products}) r(p)""",
    "stock": """
SELECT 'P' || lpad(p::VARCHAR, 8, '0'), (370202 + c)::VARCHAR, ((p + c) % 60)::INTEGER,
       'WH' || c, '0', '16:00', DATE '2027-01-01' + (p % 3)::INTEGER, 48, FALSE, 1, now()
FROM range({products}) r(p), range({counties}) s(c)""",
}
NEXT_SQL = {
    "products": "SELECT * REPLACE (now() AS synced_at) FROM cur.products",
    "prices": """
SELECT * REPLACE (supply_price + CASE WHEN hash(product_code, '{run}') % 10 = 0 THEN 1 ELSE 0
                  END AS supply_price, now() AS synced_at) FROM cur.prices""",
    "stock": """
SELECT * REPLACE (stock_qty + CASE WHEN hash(product_code, county_code, '{run}') % 10 < 3
                  THEN 1 ELSE 0 END AS stock_qty, now() AS synced_at) FROM cur.stock""",
}


def stage(warehouse: Warehouse, run_id: str, products: int, counties: int) -> Path:
    """A run's staging file: the first sync if nothing is published yet, else the next one."""
    staging = Staging(warehouse.staging_path(run_id), list(TABLES))
    with duckdb.connect() as gen:
        queries = FIRST_SQL
        if warehouse.path.exists():
            gen.execute("ATTACH ? AS cur (READ_ONLY)", [str(warehouse.path)])
            queries = NEXT_SQL
        for table in TABLES:
            sql = queries[table.name].format(products=products, counties=counties, run=run_id)
            rows = gen.sql(sql).to_arrow_table()
            rows = rows.rename_columns(table.column_names).cast(table.arrow_schema)
            staging.append(table.name, rows)
            staging.append(f"scope_{table.name}", rows.select(list(table.key)))
    staging.close()
    return staging.path


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child_publish(folder: Path, history: bool) -> None:
    """In a fresh process: publish the second sync's staging file; print seconds and MB."""
    if not history:
        warehouse_module.HISTORIES = ()  # type: ignore[attr-defined]
    warehouse = Warehouse(folder / "haier.duckdb")
    before = rss_mb()
    started = time.perf_counter()
    counts = warehouse.publish_catalog(warehouse.staging_path("second"), list(TABLES), [])
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"s": seconds, "added_mb": peak - before, "counts": counts}))


def maintenance(products: int, counties: int) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for history in (False, True):
        warehouse_module.HISTORIES = ALL_HISTORIES if history else ()  # type: ignore[attr-defined]
        with tempfile.TemporaryDirectory(prefix="haier-history-") as tmp:
            folder = Path(tmp)
            warehouse = Warehouse(folder / "haier.duckdb")
            first = stage(warehouse, "first", products, counties)
            warehouse.publish_catalog(first, list(TABLES), [])
            stage(warehouse, "second", products, counties)
            done = subprocess.run(
                [sys.executable, __file__, "child", str(folder), str(int(history))],
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(done.stdout)
            opened = {k: v for k, v in result["counts"].items() if k.endswith("_history")}
            label = "with history" if history else "without history"
            rows.append((label, result["s"], result["added_mb"], json.dumps(opened)))
    warehouse_module.HISTORIES = ALL_HISTORIES  # type: ignore[attr-defined]
    return rows


YEAR_SQL = {
    "price_history": """
INSERT INTO price_history
WITH changes AS (
    SELECT p, d FROM range({products}) r(p), range({days}) t(d)
    WHERE d = 0 OR hash(p, d) % 10 = 0),
states AS (
    SELECT p, d, TIMESTAMPTZ '{start}' + to_days(d::INTEGER) AS ts,
           sum(CASE WHEN d > 0 THEN 1 ELSE 0 END) OVER (PARTITION BY p ORDER BY d) AS n
    FROM changes)
SELECT 'P' || lpad(p::VARCHAR, 8, '0'), (1000 + p % 9000 + n)::DECIMAL(18,2),
       (990 + p % 9000 + n)::DECIMAL(18,2), 0, 0, 'COM', ts,
       lead(ts) OVER (PARTITION BY p ORDER BY d)
FROM states ORDER BY ts
""",
    "stock_history": """
INSERT INTO stock_history
WITH changes AS (
    SELECT p, c, d FROM range({products}) r(p), range({counties}) s(c), range({days}) t(d)
    WHERE d = 0 OR hash(p, c, d) % 10 < 3),
states AS (
    SELECT p, c, d, TIMESTAMPTZ '{start}' + to_days(d::INTEGER) AS ts FROM changes)
SELECT 'P' || lpad(p::VARCHAR, 8, '0'), (370202 + c)::VARCHAR,
       (hash(p, c, d, 'qty') % 60)::INTEGER, DATE '2027-01-01' + (p % 3)::INTEGER, ts,
       lead(ts) OVER (PARTITION BY p, c ORDER BY d)
FROM states ORDER BY ts
""",
    "product_history": """
INSERT INTO product_history
SELECT 'P' || lpad(p::VARCHAR, 8, '0'), 'BCD-' || (p % 500), '冰箱', '海尔', TRUE, NULL,
       TIMESTAMPTZ '{start}', NULL
FROM range({products}) r(p)
""",
}
CURRENT_SQL = {
    "products": "INSERT INTO products SELECT product_code, product_model, product_group, brand, "
    "NULL, [], is_procurable, not_procurable_reason, valid_from FROM product_history",
    "prices": "INSERT INTO prices SELECT product_code, supply_price, invoice_price, "
    "direct_discount_rate, rebate_money, rebate_type, TRUE, NULL, valid_from "
    "FROM price_history WHERE valid_to IS NULL",
    "stock": "INSERT INTO stock SELECT product_code, county_code, stock_qty, 'WH', '0', "
    "'16:00', expected_delivery_date, 48, FALSE, 1, valid_from "
    "FROM stock_history WHERE valid_to IS NULL",
}


def year(products: int, counties: int, days: int, extra_syncs: int, folder: Path) -> None:
    warehouse = Warehouse(folder / "haier.duckdb")
    start = time.strftime("%Y-%m-%d 06:00:00+00", time.gmtime(time.time() - days * 86400))
    args = {"products": products, "counties": counties, "days": days, "start": start}
    started = time.perf_counter()
    with warehouse.connect(publish=False) as con:
        for sql in (*YEAR_SQL.values(), *CURRENT_SQL.values()):
            con.execute(sql.format(**args))
        history_rows = {
            name: con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0] for name in YEAR_SQL
        }
    warehouse.publish()
    built_s = time.perf_counter() - started
    size_mb = warehouse.path.stat().st_size / 2**20
    print(
        f"a year: {days} daily syncs of {products:,} products × {counties} counties simulated "
        f"in {built_s:.0f} s; history rows {json.dumps(history_rows)}; published file "
        f"{size_mb:.0f} MB"
    )

    rows = []
    with duckdb.connect(str(warehouse.path), read_only=True) as con:
        for statement in readme_sql_statements():
            title = statement.splitlines()[0].lstrip("- ")[:60]
            started = time.perf_counter()
            found = len(con.execute(statement).fetchall())
            rows.append((title, found, time.perf_counter() - started))
    print(markdown_table(("README query", "rows", "seconds"), rows))

    table = []
    for extra in range(1, extra_syncs + 1):
        run_id = f"day-{days + extra}"
        stage(warehouse, run_id, products, counties)
        started = time.perf_counter()
        counts = warehouse.publish_catalog(warehouse.staging_path(run_id), list(TABLES), [])
        publish_s = time.perf_counter() - started
        warehouse.staging_path(run_id).unlink()
        started = time.perf_counter()
        warehouse.publish()  # checkpoint and copy alone: the part that grows with the file
        copy_s = time.perf_counter() - started
        size_mb = warehouse.path.stat().st_size / 2**20
        opened = sum(v for k, v in counts.items() if k.endswith("_history"))
        table.append((run_id, opened, publish_s, copy_s, size_mb))
    headers = ("sync on top", "history rows opened", "publish_catalog s", "publish alone s", "MB")
    print(markdown_table(headers, table))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "child":
        child_publish(Path(argv[1]), bool(int(argv[2])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("maintenance", "year", "both"), nargs="?", default="both")
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--counties", type=int, default=30)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--extra-syncs", type=int, default=5, help="real syncs after the year")
    args = parser.parse_args(argv)
    print(f"{machine()} at start; DuckDB {duckdb.__version__}")
    if args.what in ("maintenance", "both"):
        rows = maintenance(args.products, args.counties)
        print(
            f"second sync of {args.products:,} products × {args.counties} counties, "
            "10 % prices and 30 % stock changed:"
        )
        print(markdown_table(("publish", "seconds", "peak MB added", "history rows opened"), rows))
    if args.what in ("year", "both"):
        with tempfile.TemporaryDirectory(prefix="haier-year-", dir=os.getcwd()) as tmp:
            year(args.products, args.counties, args.days, args.extra_syncs, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
