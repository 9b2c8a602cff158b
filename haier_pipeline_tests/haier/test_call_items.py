"""The streamed products answer (Transport.call_items, JshClient.iter_procurable_products):
the same retries, 401 handling and envelope judgement as an ordinary call, items in chunks."""

from __future__ import annotations

import json
import socket
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest

from haier_pipeline.haier import endpoints
from haier_pipeline.haier.errors import (
    HaierBusinessError,
    HaierHttpError,
    HaierProtocolError,
    HaierTransientError,
)
from haier_pipeline.haier.jsh import JshClient
from haier_pipeline.haier.stats import CallStats
from haier_pipeline.haier.tokens import Token
from haier_pipeline.haier.transport import Transport
from haier_pipeline_tests.haier.stub import (
    FAST_RETRY,
    TOKEN_PATH,
    Answer,
    StubServer,
    jsh_settings,
    refused,
)

PRODUCTS = endpoints.JSH_PRODUCTS
HTML = Answer(200, b"<!DOCTYPE html><html><body>maintenance</body></html>")


def product(code: str, group: str = "电热水器") -> dict[str, Any]:
    return {"productCode": code, "productGroupNamd": group, "isSales": "1"}


def raw(value: Any) -> bytes:
    """UTF-8 JSON as a real gateway sends it: Chinese as characters, not \\u escapes."""
    return json.dumps(value, ensure_ascii=False).encode()


def envelope(data: Any) -> Answer:
    return Answer(200, raw({"success": True, "code": "200", "message": "成功", "data": data}))


def codes(jsh: JshClient, chunk_size: int = 5000) -> list[list[str]]:
    return [
        [p.product_code for p in chunk.records]
        for chunk in jsh.iter_procurable_products(chunk_size)
    ]


@pytest.fixture
def jsh(stub: StubServer) -> Iterator[JshClient]:
    with JshClient(jsh_settings(stub), retry=FAST_RETRY) as client:
        yield client


@pytest.fixture
def transport() -> Iterator[Transport]:
    """A bare Transport with a fixed token, for answers no Haier endpoint would give."""
    built = Transport(
        client_id="call-items-test",
        rate_limit=1000.0,
        timeout_s=2.0,
        max_workers=1,
        retry=FAST_RETRY,
        # Registered as a secret for masking, process-wide: a value no log line contains.
        fetch_token=lambda _transport: Token("call-items-test-Token-0f3a", 3600.0),
        credentials_hint="the test's credentials",
    )
    yield built
    built.close()


@contextmanager
def short_body_server() -> Iterator[tuple[str, list[int]]]:
    """A server that promises 1000 bytes of JSON, sends 40 and hangs up; yields its URL and
    a list that grows by one per connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    connections: list[int] = []

    def loop() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                connections.append(1)
                _read_request(conn)
                head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                conn.sendall(head + b"Content-Length: 1000\r\n\r\n" + b'{"data": [' * 4)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", connections
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        listener.close()
        thread.join(timeout=2)


def test_an_enveloped_list_arrives_in_chunks_of_the_requested_size(
    stub: StubServer, jsh: JshClient
) -> None:
    stub.script(PRODUCTS, envelope([product(f"P{i:08d}") for i in range(5)]))
    assert codes(jsh, chunk_size=2) == [
        ["P00000000", "P00000001"],
        ["P00000002", "P00000003"],
        ["P00000004"],
    ]
    assert "productCodes" not in stub.calls(PRODUCTS)[0].json()


def test_a_bare_list_and_a_late_success_member_are_streamed_too(
    stub: StubServer, jsh: JshClient
) -> None:
    late = {"data": [product("GA0SZC00U")], "code": "200", "success": "true"}
    stub.script(PRODUCTS, Answer(200, raw([product("BS01U000N")])), Answer(200, raw(late)))
    assert codes(jsh) == [["BS01U000N"]]
    assert codes(jsh) == [["GA0SZC00U"]]


def test_chinese_text_arrives_unchanged(stub: StubServer, jsh: JshClient) -> None:
    stub.script(PRODUCTS, envelope([product("GA0SZC00U", "冰箱·对开门 «卡萨帝»")]))
    [chunk] = jsh.iter_procurable_products()
    assert chunk.records[0].product_group == "冰箱·对开门 «卡萨帝»"


def test_numbers_stay_exact_decimals(stub: StubServer, transport: Transport) -> None:
    body = b'{"success": true, "data": [{"supplyPrice": 1999.10, "n": 3, "r": 0.05}]}'
    stub.script("/items", Answer(200, body))
    [item] = transport.call_items(stub.base_url + "/items", {})
    assert item == {"supplyPrice": Decimal("1999.10"), "n": 3, "r": Decimal("0.05")}
    assert str(item["supplyPrice"]) == "1999.10"


def test_a_malformed_record_is_rejected_in_its_chunk_and_the_rest_load(
    stub: StubServer, jsh: JshClient
) -> None:
    bad = {"productGroupNamd": "冰箱", "isSales": "1"}
    stub.script(PRODUCTS, envelope([product("A00000001"), bad, product("A00000002")]))
    first, second = jsh.iter_procurable_products(chunk_size=2)
    assert [p.product_code for p in first.records] == ["A00000001"]
    assert "productCode (product_code) is missing" in first.rejected[0].reason
    assert [p.product_code for p in second.records] == ["A00000002"]


def test_the_call_is_made_before_the_first_chunk_is_asked_for(
    stub: StubServer, jsh: JshClient
) -> None:
    stub.script(PRODUCTS, refused("PASSWORD_WRONG", "密码错误", {"hint": "账号"}))
    with pytest.raises(HaierBusinessError) as caught:
        jsh.iter_procurable_products()  # raised here, not on iteration
    assert (caught.value.code, caught.value.message) == ("PASSWORD_WRONG", "密码错误")
    assert caught.value.data == {"hint": "账号"}
    assert len(stub.calls(PRODUCTS)) == 1  # a business answer is not retried
    assert jsh.stats.business_failures == 1


@pytest.mark.parametrize(
    ("data", "expected"),
    [(None, []), (product("GA0SZC00U"), [["GA0SZC00U"]])],
    ids=["null", "single-object"],
)
def test_data_that_is_not_a_list_is_judged_as_an_ordinary_call_judges_it(
    stub: StubServer, jsh: JshClient, data: Any, expected: list[list[str]]
) -> None:
    stub.script(PRODUCTS, envelope(data))
    assert codes(jsh) == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"success": True, "data": "everything"}, "data is str, expected a list"),
        ({"success": "maybe", "data": []}, "'success' is 'maybe'"),
        ("every product", "data is str, expected a list"),
    ],
    ids=["data-text", "success-maybe", "bare-text"],
)
def test_shapes_the_contract_forbids_are_protocol_errors(
    stub: StubServer, jsh: JshClient, body: Any, message: str
) -> None:
    stub.script(PRODUCTS, Answer(200, raw(body)))
    with pytest.raises(HaierProtocolError, match=message):
        jsh.iter_procurable_products()


def test_an_html_page_is_retried_and_the_next_answer_streamed(
    stub: StubServer, jsh: JshClient
) -> None:
    stub.script(PRODUCTS, HTML, envelope([product("GA0SZC00U")]))
    assert codes(jsh) == [["GA0SZC00U"]]
    assert jsh.stats.non_json == 1
    assert jsh.stats.retries == 1


def test_html_every_time_is_a_protocol_error_quoting_the_page(
    stub: StubServer, jsh: JshClient
) -> None:
    stub.script(PRODUCTS, HTML)
    with pytest.raises(HaierProtocolError) as caught:
        jsh.iter_procurable_products()
    assert "not JSON (4 attempts in a row)" in str(caught.value)
    assert "<!DOCTYPE html>" in caught.value.excerpt
    assert len(stub.calls(PRODUCTS)) == 4


def test_a_truncated_json_body_is_retried_before_any_item_is_handed_out(
    stub: StubServer, jsh: JshClient
) -> None:
    whole = raw({"success": True, "data": [product("A00000001"), product("A00000002")]})
    cut = Answer(200, whole[: len(whole) - 30])
    stub.script(PRODUCTS, cut, Answer(200, whole))
    assert codes(jsh) == [["A00000001", "A00000002"]]
    assert jsh.stats.non_json == 1
    stub.script(PRODUCTS, cut)
    with pytest.raises(HaierProtocolError, match="not JSON"):
        jsh.iter_procurable_products()


def test_a_body_cut_short_of_its_content_length_is_a_dropped_call_retried(
    transport: Transport,
) -> None:
    with short_body_server() as (base_url, connections):
        with pytest.raises(HaierTransientError) as caught:
            transport.call_items(base_url + "/items", {})
        assert caught.value.attempts == 4
        assert len(connections) == 4
    assert transport.stats.dropped == 4


def test_a_refused_token_is_replaced_and_the_answer_streamed(
    stub: StubServer, jsh: JshClient
) -> None:
    stub.script(PRODUCTS, Answer(401), envelope([product("GA0SZC00U")]))
    assert codes(jsh) == [["GA0SZC00U"]]
    assert jsh.stats.token_refreshes == 1
    first, second = stub.calls(PRODUCTS)
    assert (first.headers["Authorization"], second.headers["Authorization"]) == (
        "Bearer tok-1",
        "Bearer tok-2",
    )
    assert len(stub.calls(TOKEN_PATH)) == 2


def test_server_errors_are_retried_and_client_errors_are_not(
    stub: StubServer, jsh: JshClient
) -> None:
    stub.script(PRODUCTS, Answer(503), envelope([product("GA0SZC00U")]))
    assert codes(jsh) == [["GA0SZC00U"]]
    assert jsh.stats == CallStats(calls=3, retries=1, http_5xx=1)
    stub.script(PRODUCTS, Answer(400, {"message": "bad"}))
    with pytest.raises(HaierHttpError, match="parameters") as caught:
        jsh.iter_procurable_products()
    assert caught.value.status == 400


def test_a_chunk_size_below_one_is_refused(jsh: JshClient) -> None:
    with pytest.raises(ValueError, match="chunk_size is 0"):
        jsh.iter_procurable_products(0)


def _read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += conn.recv(4096)


def test_streaming_holds_a_fraction_of_what_the_whole_answer_costs(
    stub: StubServer, jsh: JshClient
) -> None:
    """The point of streaming: traced peak memory far below parsing the answer whole.

    Measured against the whole-answer path on the same body, so the bound does not depend on
    the machine; the stub's own copy of the body while sending counts against streaming.
    """
    urls = {"productImageUrl": "https://img.example.invalid/p/main.jpg"}
    urls["productLageUrls"] = [f"https://img.example.invalid/p/{n}.jpg" for n in range(3)]
    records = [product(f"P{i:08d}") | urls for i in range(8000)]
    stub.script(PRODUCTS, Answer(200, raw({"success": True, "data": records})))
    del records

    def peak_bytes(read: Callable[[], int]) -> int:
        tracemalloc.start()
        try:
            assert read() == 8000
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    whole = peak_bytes(lambda: len(jsh.procurable_products().records))
    streamed = peak_bytes(
        lambda: sum(len(chunk.records) for chunk in jsh.iter_procurable_products(500))
    )
    assert streamed < whole / 3, (streamed, whole)
