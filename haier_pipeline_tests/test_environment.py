"""Settings that fail validation are named, and what is wrong said, without echoing a value
that may hold a secret (issue 15, finding 4)."""

from __future__ import annotations

import pytest

from haier_pipeline import environment as env
from haier_pipeline.haier.masking import MIN_SECRET_CHARS


@pytest.mark.parametrize("value", ["s", "p", "ab", "x" * (MIN_SECRET_CHARS - 1)])
def test_a_secret_too_short_to_mask_is_refused_at_start_in_one_line(value: str) -> None:
    with pytest.raises(env.SettingError) as refused:
        env.HAIER_SELLER_PASSWORD.value(value)
    message = str(refused.value)
    assert message.startswith("HAIER_SELLER_PASSWORD=(value hidden) is shorter than")
    assert f"'{value}'" not in message and "\n" not in message


def test_a_secret_of_the_minimum_length_is_taken_as_it_is() -> None:
    value = " " + "x" * (MIN_SECRET_CHARS - 1)
    assert env.HAIER_PASSWORD.value(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "ftp://gateway.example/oauth2/auth?client_secret=Xk9-mQ2-never-shown",
        "ftp://shop:Xk9-mQ2-never-shown@gateway.example/oauth2/auth",
        "Xk9-mQ2-never-shown",
        "http:///oauth2/auth?client_secret=Xk9-mQ2-never-shown",
    ],
)
def test_a_url_that_fails_validation_is_named_but_never_echoed(value: str) -> None:
    with pytest.raises(env.SettingError) as refused:
        env.HAIER_TOKEN_URL.value(value)
    message = str(refused.value)
    assert message.startswith("HAIER_TOKEN_URL=(value not shown")
    assert "is not an http:// or https:// URL" in message
    assert "Xk9-mQ2-never-shown" not in message
    assert "gateway.example" not in message


def test_a_list_of_many_codes_with_one_bad_is_cut_to_a_few_plus_a_count() -> None:
    codes = [f"{n:06d}" for n in range(100_000, 200_001)]
    codes[70_000] = "BAD-CODE"
    with pytest.raises(env.SettingError) as refused:
        env.HAIER_COUNTY_CODES.value(",".join(codes))
    message = str(refused.value)
    assert "'BAD-CODE'" in message
    assert len(message) < 400, message
