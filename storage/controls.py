"""Control characters: the ones citygraph refuses in any text it is given, on every engine alike.

Refused: every character of Unicode's category Cc except TAB, LF and CR, that is U+0000 to U+0008,
U+000B, U+000C, U+000E to U+001F, DEL (U+007F) and the C1 controls U+0080 to U+009F.

Why this set, and no other:
- NUL (U+0000) is what the engines disagree on: PostgreSQL refuses it in any text value (its
  strings are C strings), while SQLite stores it and then compares or matches only up to it in
  some functions (`LIKE`), so a filter `contains: "a\\u0000b"` became `contains: "a"`. Only
  refusing it everywhere makes both engines answer alike.
- The other C0 controls and DEL have no place in a city's text: they are invisible, break CSV
  and terminals, and XML 1.0 (hence any RDF/XML a reuser turns the catalog into) cannot hold them.
- The C1 controls (U+0080 to U+009F) appear in real files only when a Windows-1252 file is read as
  Latin-1 (a curly apostrophe becomes U+0092): refusing them catches a wrongly declared encoding
  instead of publishing mojibake.
- TAB, LF and CR are kept: a quoted CSV cell may hold a line break (a multi-line address), and a
  text filter must be able to match it. XML 1.0 allows exactly these three, for the same reason.
PostgreSQL itself refuses only NUL, because a database must store whatever text it is given; an
API that publishes text to CSV, JSON and RDF readers is the place to refuse the rest. Format
characters (category Cf: zero-width space, bidirectional marks) are not controls; they are text
in some scripts and are accepted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
"""One refused control character."""

_NAMES = {0x00: "NUL", 0x7F: "DEL"}


def control_character(text: str) -> str | None:
    """The first refused control character of `text`, or None when it has none."""
    found = REFUSED.search(text)
    return found.group() if found else None


def describe(char: str) -> str:
    """A control character as a person reads it: `U+0000 (NUL)`, `U+0092`."""
    code = ord(char)
    name = _NAMES.get(code)
    return f"U+{code:04X} ({name})" if name else f"U+{code:04X}"


def why_refused(char: str, *, from_file: bool = False) -> str:
    """The reason a text holding `char` is refused, for an error message."""
    reason = f"holds the control character {describe(char)}"
    if from_file and 0x80 <= ord(char) <= 0x9F:
        reason += " (is the file Windows-1252 read as Latin-1? declare its encoding)"
    return reason


def strings_in(value: Any) -> Iterator[str]:
    """Every string in a JSON-like value (dict keys included), without recursing in Python."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)


def first_control(value: Any) -> str | None:
    """The first refused control character in any string of a JSON-like value, or None."""
    for text in strings_in(value):
        if (char := control_character(text)) is not None:
            return char
    return None
