"""The callback signature, pinned to hand-computed vectors so that a regression cannot hide."""

from __future__ import annotations

import hashlib

from haier_pipeline.callbacks.signing import sign, verify

SECRET = "S3cret"
DATA = '{"ExtOrderNo":"SO.20250430.000001","PlatformOrderNo":"P-1001","State":1,"FailMsg":""}'
FIELDS = {
    "TimeStamp": "20250430120000",
    "Method": "hmm.scm_heorder.confirm",
    "AppKey": "HaierApp01",
    "Data": DATA,
}
EXPECTED = "7ABD8153F7C972FD6C7D575E6B7D7A7B"  # computed once by hand, see test below


def test_sign_matches_the_spec_computed_step_by_step() -> None:
    # Spec: fields except Sign, sorted by name, name then value, secret at both ends,
    # lower-case the whole string, MD5, upper-case hex.
    concatenated = "AppKey" + "HaierApp01"
    concatenated += "Data" + DATA
    concatenated += "Method" + "hmm.scm_heorder.confirm"
    concatenated += "TimeStamp" + "20250430120000"
    plain = (SECRET + concatenated + SECRET).lower()
    assert plain.startswith('s3cretappkeyhaierapp01data{"extorderno"')
    by_hand = hashlib.md5(plain.encode("utf-8")).hexdigest().upper()

    assert by_hand == EXPECTED
    assert sign(FIELDS, SECRET) == EXPECTED


def test_sign_hashes_chinese_text_as_utf8() -> None:
    data = '{"PlatformOrderNo":"P-2","State":0,"FailMsg":"库存不足"}'
    fields = {
        "AppKey": "A",
        "TimeStamp": "20250501083000",
        "Method": "hmm.scm_heorder.oostock",
        "Data": data,
    }
    plain = "K" + "AppKeyA" + "Data" + data + "Methodhmm.scm_heorder.oostock"
    plain += "TimeStamp20250501083000" + "K"
    by_hand = hashlib.md5(plain.lower().encode("utf-8")).hexdigest().upper()

    assert by_hand == "641F31E42B8078B736197DE1F5C4F496"
    assert sign(fields, "K") == by_hand


def test_sign_ignores_the_sign_field_and_empty_or_blank_fields() -> None:
    noisy = {**FIELDS, "Sign": "WHATEVER", "Remark": "", "Extra": "   "}
    assert sign(noisy, SECRET) == EXPECTED


def test_sign_depends_on_every_non_blank_field_and_on_the_secret() -> None:
    assert sign({**FIELDS, "Remark": "x"}, SECRET) != EXPECTED
    assert sign({**FIELDS, "Method": "hmm.scm_heorder.cancel"}, SECRET) != EXPECTED
    assert sign(FIELDS, "other") != EXPECTED


def test_secret_case_does_not_matter_because_the_whole_string_is_lower_cased() -> None:
    assert sign(FIELDS, SECRET.upper()) == EXPECTED


def test_verify_accepts_a_good_signature_in_either_hex_case() -> None:
    assert verify({**FIELDS, "Sign": EXPECTED}, SECRET)
    assert verify({**FIELDS, "Sign": EXPECTED.lower()}, SECRET)


def test_verify_refuses_tampering_wrong_secret_and_missing_sign() -> None:
    tampered = {**FIELDS, "Data": DATA.replace('"State":1', '"State":0'), "Sign": EXPECTED}
    assert not verify(tampered, SECRET)
    assert not verify({**FIELDS, "Sign": EXPECTED}, "wrong")
    assert not verify(FIELDS, SECRET)
    assert not verify({**FIELDS, "Sign": ""}, SECRET)
    assert not verify({**FIELDS, "Sign": "  "}, SECRET)


def test_verify_refuses_a_non_ascii_sign_without_raising() -> None:
    assert not verify({**FIELDS, "Sign": "签名" * 16}, SECRET)
