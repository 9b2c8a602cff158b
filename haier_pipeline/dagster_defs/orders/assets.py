"""The order tables as assets: ``orders``, ``logistics_events`` and ``delivery_photos``.

They are declared as specs that the order jobs report materializations on, not as assets
Dagster computes. Each table is written by several jobs, each doing one part on an outside
event (push_orders when an order file arrives, apply_callbacks when Haier calls back,
track_logistics on its schedule), while Dagster lets exactly one definition materialize an
asset: a "Materialize" button on ``orders`` would have to pick one of those parts, and an
automation condition cannot see a file arriving, which is what the sensors watch. So the UI
shows "External Asset" with no Materialize button, and each asset's description names the
jobs, sensors and schedules that write it; its events show every run that changed it.
"""

from dagster import AssetSpec

from haier_pipeline.dagster_defs.conventions import table_spec
from haier_pipeline.storage.schema import (
    DELIVERY_PHOTOS,
    LOGISTICS_EVENTS,
    ORDERS,
    PRODUCTS,
    Table,
)

ORDERS_GROUP = "orders"

WRITTEN_BY = {
    ORDERS: "push_orders (sensor order_inbox_sensor, schedule push_orders_every_15_min) and "
    "apply_callbacks (sensor callback_spool_sensor); track_logistics, cancel_order and "
    "reschedule_order also update an order's status",
    LOGISTICS_EVENTS: "track_logistics (schedule track_logistics_hourly)",
    DELIVERY_PHOTOS: "track_logistics (schedule track_logistics_hourly) and "
    "fetch_delivery_photos (Launchpad)",
}


def _order_table(table: Table, deps: list[str]) -> AssetSpec:
    spec = table_spec(table, ORDERS_GROUP, deps)
    return spec.replace_attributes(
        description=f"{table.description}\n\nWritten by the jobs {WRITTEN_BY[table]}."
    )


ORDER_ASSETS = [
    # Each order is validated against its account's products before it is pushed.
    _order_table(ORDERS, [PRODUCTS.name]),
    _order_table(LOGISTICS_EVENTS, [ORDERS.name]),
    _order_table(DELIVERY_PHOTOS, [ORDERS.name]),
]
