"""The files release c7a6b6a (before history) left beside HAIER_DUCKDB_PATH, made on demand.

That release created its tables with the DDL below (its ``SETUP_SQL``, copied verbatim) in
DuckDB 2.0's default storage format, which no 1.x reader opens, and published a byte copy of
its working file. A tiny catalog of three products is enough to show what a migration keeps.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb

SYNCED_AT = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
PRODUCT_CODES = ("OLD000001", "OLD000002", "OLD000003")

SETUP_SQL_C7A6B6A = (
    "CREATE SEQUENCE IF NOT EXISTS sync_log_id_seq START 1",
    "CREATE TABLE IF NOT EXISTS products (product_code VARCHAR, product_model VARCHAR, "
    "product_group VARCHAR, brand VARCHAR, image_url VARCHAR, leaflet_urls VARCHAR[], "
    "is_procurable BOOLEAN, not_procurable_reason VARCHAR, synced_at TIMESTAMPTZ, "
    "PRIMARY KEY (product_code))",
    "CREATE TABLE IF NOT EXISTS prices (product_code VARCHAR, supply_price DECIMAL(18,2), "
    "invoice_price DECIMAL(18,2), direct_discount_rate DECIMAL(9,4), rebate_money "
    "DECIMAL(18,2), rebate_type VARCHAR, is_procurable BOOLEAN, price_note VARCHAR, "
    "synced_at TIMESTAMPTZ, PRIMARY KEY (product_code))",
    "CREATE TABLE IF NOT EXISTS stock (product_code VARCHAR, county_code VARCHAR, stock_qty "
    "INTEGER, warehouse_code VARCHAR, warehouse_grade VARCHAR, cut_time VARCHAR, "
    "expected_delivery_date DATE, delivery_hours INTEGER, is_transfer BOOLEAN, "
    "warehouse_count INTEGER, synced_at TIMESTAMPTZ, PRIMARY KEY (product_code, county_code))",
    "CREATE TABLE IF NOT EXISTS sync_log (id BIGINT, run_id VARCHAR, sync_type VARCHAR, "
    "status VARCHAR, total_count BIGINT, success_count BIGINT, failed_count BIGINT, api_calls "
    "BIGINT, message VARCHAR, started_at TIMESTAMPTZ, completed_at TIMESTAMPTZ, "
    "PRIMARY KEY (id))",
    "CREATE TABLE IF NOT EXISTS sync_rejects (run_id VARCHAR, sync_type VARCHAR, record_key "
    "VARCHAR, reason VARCHAR, raw VARCHAR, rejected_at TIMESTAMPTZ)",
    "CREATE TABLE IF NOT EXISTS orders (so_id VARCHAR, online_no VARCHAR, retail_order_no "
    "VARCHAR, ext_order_no VARCHAR, status VARCHAR, total_amt DECIMAL(18,2), county_code "
    "VARCHAR, source_file VARCHAR, last_error VARCHAR, push_attempts INTEGER, received_at "
    "TIMESTAMPTZ, pushed_at TIMESTAMPTZ, updated_at TIMESTAMPTZ, logistics_status VARCHAR, "
    "PRIMARY KEY (so_id))",
    "CREATE TABLE IF NOT EXISTS logistics_events (so_id VARCHAR, logistics_no VARCHAR, status "
    "VARCHAR, logistics_company VARCHAR, sn_code VARCHAR, delivery_record_code VARCHAR, "
    "description VARCHAR, status_time TIMESTAMPTZ, source VARCHAR, recorded_at TIMESTAMPTZ, "
    "PRIMARY KEY (so_id, logistics_no, status))",
    "CREATE TABLE IF NOT EXISTS account_balance (sale_group_code VARCHAR, fetched_at "
    "TIMESTAMPTZ, sale_group_name VARCHAR, payer_account_code VARCHAR, payer_account_name "
    "VARCHAR, balance DECIMAL(18,2), PRIMARY KEY (sale_group_code, fetched_at))",
)


def write_previous_release_files(published: Path) -> Path:
    """Write the working file and its published copy as c7a6b6a would; returns the working file."""
    published.parent.mkdir(parents=True, exist_ok=True)
    working = published.with_name(f"{published.stem}.pipeline{published.suffix}")
    with duckdb.connect(str(working)) as con:  # DuckDB 2.0's default storage format
        for statement in SETUP_SQL_C7A6B6A:
            con.execute(statement)
        for i, code in enumerate(PRODUCT_CODES, start=1):
            con.execute(
                "INSERT INTO products (product_code, product_model, brand, is_procurable, "
                "synced_at) VALUES (?, ?, '海尔', TRUE, ?)",
                [code, f"BCD-{i}00", SYNCED_AT],
            )
            con.execute(
                "INSERT INTO prices (product_code, supply_price, invoice_price, synced_at) "
                "VALUES (?, ?, ?, ?)",
                [code, 1000 * i, 990 * i, SYNCED_AT],
            )
            con.execute(
                "INSERT INTO stock (product_code, county_code, stock_qty, synced_at) "
                "VALUES (?, '110101', ?, ?)",
                [code, i, SYNCED_AT],
            )
            con.execute(
                "INSERT INTO sync_log (id, run_id, sync_type, status, started_at, completed_at) "
                "VALUES (nextval('sync_log_id_seq'), 'old-run', 'products', 'success', ?, ?)",
                [SYNCED_AT, SYNCED_AT],
            )
    shutil.copyfile(working, published)
    return working


# Release d0c71a3 (history, before accounts): c7a6b6a's tables plus these, in storage format
# v1.4.0. Its tables have no account column and keys without it.
SETUP_SQL_D0C71A3 = (
    *SETUP_SQL_C7A6B6A,
    "CREATE TABLE IF NOT EXISTS product_history (product_code VARCHAR, product_model VARCHAR, "
    "product_group VARCHAR, brand VARCHAR, is_procurable BOOLEAN, not_procurable_reason "
    "VARCHAR, valid_from TIMESTAMPTZ, valid_to TIMESTAMPTZ)",
    "CREATE TABLE IF NOT EXISTS price_history (product_code VARCHAR, supply_price "
    "DECIMAL(18,2), invoice_price DECIMAL(18,2), direct_discount_rate DECIMAL(9,4), "
    "rebate_money DECIMAL(18,2), rebate_type VARCHAR, valid_from TIMESTAMPTZ, valid_to "
    "TIMESTAMPTZ)",
    "CREATE TABLE IF NOT EXISTS stock_history (product_code VARCHAR, county_code VARCHAR, "
    "stock_qty INTEGER, expected_delivery_date DATE, valid_from TIMESTAMPTZ, valid_to "
    "TIMESTAMPTZ)",
    "CREATE TABLE IF NOT EXISTS pipeline_schema (fingerprint VARCHAR, set_up_at TIMESTAMPTZ)",
)
ROWS_D0C71A3 = {
    "orders": "INSERT INTO orders (so_id, online_no, retail_order_no, status, total_amt, "
    "county_code, push_attempts, received_at, pushed_at, updated_at) VALUES "
    "('SO-1', 'ON-1', 'R-1', 'pushed', 2999.00, '110101', 1, $at, $at, $at), "
    "('SO-2', 'ON-2', NULL, 'rejected', 10.50, '110101', 0, $at, NULL, $at)",
    "logistics_events": "INSERT INTO logistics_events VALUES ('SO-1', 'LN-1', 'SHIPPED', "
    "'顺丰', NULL, NULL, '已发货', $at, 'cloud_warehouse', $at)",
    "account_balance": "INSERT INTO account_balance VALUES ('G1', $at, '青岛', 'P1', '付款方', "
    "50000.00)",
    "sync_rejects": "INSERT INTO sync_rejects VALUES ('old-run', 'prices', 'OLD000002', "
    "'malformed', '{}', $at)",
    "product_history": "INSERT INTO product_history SELECT product_code, product_model, "
    "product_group, brand, is_procurable, not_procurable_reason, $at - INTERVAL 1 DAY, NULL "
    "FROM products",
    "price_history": "INSERT INTO price_history SELECT product_code, supply_price + 1, "
    "invoice_price, direct_discount_rate, rebate_money, rebate_type, $at - INTERVAL 2 DAY, "
    "$at - INTERVAL 1 DAY FROM prices UNION ALL SELECT product_code, supply_price, "
    "invoice_price, direct_discount_rate, rebate_money, rebate_type, $at - INTERVAL 1 DAY, "
    "NULL FROM prices",
    "stock_history": "INSERT INTO stock_history SELECT product_code, county_code, stock_qty, "
    "expected_delivery_date, $at - INTERVAL 1 DAY, NULL FROM stock",
    "pipeline_schema": "INSERT INTO pipeline_schema VALUES ('d0c71a3-fingerprint', $at)",
}


def write_single_account_release_files(published: Path) -> Path:
    """The files release d0c71a3 left: every table filled, history included, in format v1.4.0;
    returns the working file."""
    working = write_previous_release_files(published)
    with duckdb.connect(str(working)) as con:
        for statement in SETUP_SQL_D0C71A3:
            con.execute(statement)
        for statement in ROWS_D0C71A3.values():
            con.execute(statement, {"at": SYNCED_AT})
    converted = working.with_name("converted.duckdb")
    with duckdb.connect() as con:  # d0c71a3 wrote every file in storage format v1.4.0
        con.execute("ATTACH ? AS old (READ_ONLY)", [str(working)])
        con.execute("ATTACH ? AS new (STORAGE_VERSION 'v1.4.0')", [str(converted)])
        con.execute("COPY FROM DATABASE old TO new")
    converted.replace(working)
    shutil.copyfile(working, published)
    return working
