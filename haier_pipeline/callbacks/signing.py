"""The callback signature of haier-api.md section 4.

Haier signs every callback it sends us, and the sandbox signs the callbacks it emulates with
this same ``sign`` so that the two can never drift apart. Text is hashed as UTF-8: the spec
names no encoding, and UTF-8 is what Haier's JSON and form bodies use everywhere else.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

SIGN_FIELD = "Sign"


def sign(fields: Mapping[str, str], secret: str) -> str:
    """The upper-case hex MD5 that Haier puts in the ``Sign`` form field.

    Blank fields are left out because Haier leaves them out: a sender that omits an empty
    field and one that sends it empty must produce the same signature.
    """
    signed = sorted(
        (name, value) for name, value in fields.items() if name != SIGN_FIELD and value.strip()
    )
    plain = secret + "".join(name + value for name, value in signed) + secret
    return hashlib.md5(plain.lower().encode("utf-8")).hexdigest().upper()


def verify(fields: Mapping[str, str], secret: str) -> bool:
    """Whether ``fields["Sign"]`` is the signature of the other fields under ``secret``.

    The comparison is constant-time so that response timing does not leak how much of a
    forged signature was right. Hex case is ignored: it carries no information.
    """
    given = fields.get(SIGN_FIELD, "").strip()
    if not given:
        return False
    expected = sign(fields, secret)
    return hmac.compare_digest(given.upper().encode("utf-8"), expected.encode("ascii"))
