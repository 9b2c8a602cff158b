"""Property tests of the callback parser and signature check (issue 7, "Beyond the list").

Every body, random or a mutation of a valid signed callback, gets an answer with a status
and, when refused, a reason; nothing escapes ``CallbackReceiver.answer``. A callback that is
accepted reads back from the spool with the fields it was sent with. The signature accepts
exactly the form it was made for.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import strategies as st

from haier_pipeline.callbacks import spool
from haier_pipeline.callbacks.model import METHODS, format_timestamp
from haier_pipeline.callbacks.receiver import AccountKey, CallbackReceiver
from haier_pipeline.callbacks.signing import sign, verify
from haier_pipeline_tests.callbacks.forms import APP_KEY, SECRET, callback_form
from haier_pipeline_tests.fuzzing import JSON_VALUES, fuzz

REFUSALS = {400, 401}


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CallbackReceiver]:
    """Bound but never started: answer() is the whole decision, without the socket."""
    made = CallbackReceiver(tmp_path_factory.mktemp("spool"), AccountKey(APP_KEY, SECRET))
    yield made
    made.stop()


def _answer(receiver: CallbackReceiver, body: bytes) -> tuple[int, dict[str, Any]]:
    status, answer = receiver.answer(body, datetime.now(UTC), "fuzz")
    assert status == 200 or status in REFUSALS, (status, answer)
    assert answer["success"] is (status == 200)
    if status != 200:
        assert isinstance(answer["description"], str) and answer["description"]
    return status, answer


def _any_body(receiver: CallbackReceiver, body: bytes) -> None:
    status, _ = _answer(receiver, body)
    assert status in REFUSALS  # nothing random carries our signature


test_any_body_is_refused_with_a_reason, test_any_body_slow = fuzz(st.binary(max_size=400))(
    _any_body
)


@st.composite
def _signed_mutations(draw: st.DrawFn) -> dict[str, str]:
    """A valid callback with its Data, Method or TimeStamp changed, then signed again."""
    data: dict[str, Any] = {
        "ExtOrderNo": "SO.20250430.000001",
        "PlatformOrderNo": draw(st.text(min_size=1, max_size=20)),
        "State": draw(st.sampled_from([0, 1, "0", "1"]) | JSON_VALUES),
        "FailMsg": draw(st.text(max_size=120)),
    }
    for _ in range(draw(st.integers(0, 2))):
        key = draw(st.sampled_from(sorted(data)) | st.text(max_size=6))
        data[key] = draw(JSON_VALUES)
    raw = draw(st.just(json.dumps(data, ensure_ascii=False)) | st.text(max_size=60))
    fields = {
        "AppKey": APP_KEY,
        "TimeStamp": draw(
            st.just(format_timestamp(datetime.now(UTC))) | st.text("0123456789", max_size=16)
        ),
        "Method": draw(st.sampled_from(sorted(METHODS)) | st.text(max_size=30)),
        "Data": raw,
    }
    return {**fields, "Sign": sign(fields, SECRET)}


def _signed_mutation(receiver: CallbackReceiver, form: dict[str, str]) -> None:
    before = len(spool.pending(receiver.spool_dir))
    status, answer = _answer(receiver, urlencode(form).encode("utf-8"))
    assert status in (200, 400)  # signed, so never 401
    after = spool.pending(receiver.spool_dir)
    if status == 200:
        newest = after[-1] if len(after) > before else None
        assert answer["data"]["platformOrderNo"] == json.loads(form["Data"])["PlatformOrderNo"]
        if newest is not None:  # a repeat of an earlier example is answered, not stored
            assert (newest.method, newest.raw_data) == (form["Method"], form["Data"])
    else:
        assert len(after) == before


test_signed_mutations_are_spooled_or_refused, test_signed_mutations_slow = fuzz(
    _signed_mutations(), quick=100, slow=2_000
)(_signed_mutation)


_FIELDS = st.dictionaries(
    st.text(min_size=1, max_size=10).filter(lambda name: name != "Sign"),
    st.text(max_size=30),
    max_size=6,
)


def _signature(fields: dict[str, str], secret: str, flip: int) -> None:
    signed = {**fields, "Sign": sign(fields, secret)}
    assert verify(signed, secret)
    assert verify({**signed, "Sign": signed["Sign"].lower()}, secret)
    forged = list(signed["Sign"])
    at = flip % len(forged)
    forged[at] = "0" if forged[at] != "0" else "1"
    assert not verify({**signed, "Sign": "".join(forged)}, secret)
    assert not verify({**signed, "Sign": ""}, secret)


test_the_signature_accepts_exactly_its_form, test_the_signature_slow = fuzz(
    _FIELDS, st.text(min_size=1, max_size=20), st.integers(0, 31)
)(_signature)


def test_a_valid_callback_is_accepted_by_the_same_answer_path(receiver: CallbackReceiver) -> None:
    """The properties above could pass with a receiver that refuses everything; this cannot."""
    status, _ = _answer(receiver, urlencode(callback_form("P-FUZZ")).encode("utf-8"))
    assert status == 200
    assert any(cb.platform_order_no == "P-FUZZ" for cb in spool.pending(receiver.spool_dir))
