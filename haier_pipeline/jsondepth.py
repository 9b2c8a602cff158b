"""How deeply a JSON text nests, measured before it is parsed.

Python's json parser recurses once per level, so a few kilobytes of ``[[[[...`` raise
RecursionError from inside ``json.loads`` (or exhaust a thread's smaller stack). Order files
and callback Data come from outside, so both are measured first and refused by a clear reason
when they nest deeper than their format ever needs. The scan skips over string literals in C
(a regular expression with possessive quantifiers), so brackets inside text do not count and
the cost stays linear in the text's length.
"""

from __future__ import annotations

import re

# A string literal runs to its closing quote, or to the end of an unterminated one, so that a
# lone quote is scanned once rather than again from every later quote.
_TOKEN = re.compile(r'"(?:[^"\\]++|\\.)*+"?|[\[\]{}]')


def deeper_than(text: str, limit: int) -> bool:
    """Whether ``text`` opens more than ``limit`` objects or lists inside one another.

    Unbalanced or otherwise broken JSON is not judged here: the parser that runs next names
    that mistake better.
    """
    depth = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return True
        elif token in "]}":
            depth -= 1
    return False
