"""Delivery-photo URLs from YLH are checked before they are stored (issue 15, finding 6)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from haier_pipeline.haier import endpoints
from haier_pipeline.haier.endpoints import YLH_SERVICES
from haier_pipeline.haier.ylh import YlhClient
from haier_pipeline.orders.photos import MAX_PHOTOS, MAX_URL_CHARS, fetch_photos
from haier_pipeline.storage.warehouse import Warehouse
from haier_pipeline_tests.haier.stub import FAST_RETRY, StubServer, ok, start_stub, ylh_settings

IMAGES = "/ylh" + YLH_SERVICES.url("", endpoints.YLH_DELIVERY_IMAGES)
NUMBER = "SO.20250430.000001"


@pytest.fixture
def stub() -> Iterator[StubServer]:
    server, stop = start_stub()
    yield server
    stop()


def _stored(warehouse: Warehouse) -> list[str]:
    rows = warehouse.read("SELECT image_url FROM delivery_photos ORDER BY position")
    return [url for (url,) in rows]


def test_only_http_urls_of_sane_length_and_count_are_stored_the_rest_counted(
    stub: StubServer, tmp_path: Path
) -> None:
    good = [f"https://img.example/{n}.jpg" for n in range(MAX_PHOTOS + 5)]
    hostile = [
        "javascript:alert(document.cookie)",
        "data:image/png;base64,iVBORw0KGgo=",
        "ftp://img.example/1.jpg",
        "https://img.example/" + "a" * MAX_URL_CHARS,
        "https:///no-host.jpg",
        " https://img.example/padded.jpg ",
    ]
    stub.script(IMAGES, ok([good[0], *hostile, *good[1:]]))
    warehouse = Warehouse(tmp_path / "haier.duckdb")
    with YlhClient(ylh_settings(stub), retry=FAST_RETRY) as ylh:
        stored = fetch_photos(ylh, warehouse, NUMBER)
    assert stored.new == MAX_PHOTOS
    sane = len(good) + 1  # the padded one is trimmed and kept
    assert stored.rejected == (len(hostile) - 1) + (sane - MAX_PHOTOS)
    urls = _stored(warehouse)
    assert len(urls) == MAX_PHOTOS
    assert all(url.startswith("https://img.example/") and len(url) < 100 for url in urls)
    assert "https://img.example/padded.jpg" in urls
