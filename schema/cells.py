"""CSV cells as values of a published column's type: numbers, booleans, dates, district labels.

A cell that does not fit raises `RowError` with a reason that names what was expected, never the
value (reports group rows by reason, and a report must not copy restricted data).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from schema.ingest.text import RowError, normalise_district
from schema.manifest import ColumnManifest

INT_RANGE = (-(2**31), 2**31 - 1)  # GraphQL's Int is 32-bit: a larger value could never be served
TRUE = frozenset({"true", "t", "1", "yes", "y", "oui", "o", "vrai"})
FALSE = frozenset({"false", "f", "0", "no", "n", "non", "faux"})
ROMAN = {
    r: i for i, r in enumerate(("i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x"), 1)
}
ROMAN |= {"x" + r: i + 10 for r, i in ROMAN.items()}
# The two woods belong to arrondissements; the city's files name them instead of a number.
WOODS = {"bois de vincennes": 12, "bois de boulogne": 16}


def district_code(label: str) -> str | None:
    """INSEE code (75101..75120) of an arrondissement label: "13", "75013", "13e", "1er Ardt", "XIIIe"."""
    try:
        return normalise_district(label)
    except ValueError:
        pass
    # Styles the shared normaliser does not read yet: the portal's "PARIS 13E ARRDT", Roman
    # numerals ("XIIIe") and the two woods, which belong to the 12th and the 16th.
    text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"[\s._,-]+", " ", text).strip()
    number: int | None = None
    if m := re.fullmatch(r"75[01](\d\d)", text):  # INSEE 751xx or postal code 750xx (and 75116)
        number = int(m[1])
    elif text in WOODS:
        number = WOODS[text]
    else:
        text = re.sub(r"^paris\s*", "", text)
        text = re.sub(r"\s*(arrondissement|arrdt|ardt|arrt|arr)$", "", text)
        if m := re.fullmatch(r"(\d{1,2}|[ivx]+)\s*(er|ere|re|eme|ieme|e|em|me)?", text):
            number = int(m[1]) if m[1].isdigit() else ROMAN.get(m[1])
    return f"751{number:02d}" if number is not None and 1 <= number <= 20 else None


def _number(raw: str, decimal: str) -> str:
    # thousands separators: spaces, no-break and narrow no-break spaces ("1 234,5")
    text = re.sub(r"[\s\u00a0\u202f]", "", raw)
    if decimal == ",":
        if "." in text:
            raise RowError("not a number (the decimal separator is ',')")
        text = text.replace(",", ".")
    elif "," in text:
        raise RowError("not a number (the decimal separator is '.')")
    return text


def converter(col: ColumnManifest, decimal: str) -> Callable[[str], Any]:
    """The function turning a non-empty cell into a value of the column's type."""

    def integer(raw: str) -> int:
        text = _number(raw, decimal)
        if not re.fullmatch(r"[+-]?\d+(\.0*)?", text):
            raise RowError("not an integer")
        value = int(text.split(".")[0])
        if not INT_RANGE[0] <= value <= INT_RANGE[1]:
            raise RowError(
                "outside GraphQL's Int range (±2^31): declare the column as float or string"
            )
        return value

    def real(raw: str) -> float:
        try:
            value = float(_number(raw, decimal))
        except ValueError:
            raise RowError("not a number") from None
        if not math.isfinite(value):
            raise RowError("not a finite number")
        bound = {"latitude": 90, "longitude": 180}.get(col.role or "")
        if bound is not None and abs(value) > bound:
            raise RowError(f"not a {col.role} (beyond ±{bound})")
        return value

    def boolean(raw: str) -> bool:
        word = raw.lower()
        if word in TRUE or word in FALSE:
            return word in TRUE
        raise RowError("not a boolean (true/false, oui/non, yes/no, 1/0)")

    def when(raw: str) -> datetime:
        try:
            if col.format:
                value = datetime.strptime(raw, col.format)  # noqa: DTZ007 (the zone comes next)
            else:
                value = datetime.fromisoformat(raw)
        except ValueError:
            raise RowError(f"not a date and time ({col.format or 'ISO 8601'})") from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=ZoneInfo(col.timezone) if col.timezone else UTC)
        return value.astimezone(UTC)

    def day(raw: str) -> date:
        try:
            if col.format:
                return datetime.strptime(raw, col.format).date()  # noqa: DTZ007 (a date has no zone)
            return date.fromisoformat(raw)
        except ValueError:
            pass
        try:  # portals often write a date as midnight: 2010-03-01T00:00:00+00:00
            moment = datetime.fromisoformat(raw)
        except ValueError:
            moment = None
        if col.format is None and moment is not None and moment.time() == datetime.min.time():
            return moment.date()
        raise RowError(f"not a date ({col.format or 'YYYY-MM-DD'})")

    def district(raw: str) -> str | None:
        return district_code(raw)  # None: no arrondissement; schema.placement decides then

    if col.role == "district":
        return district
    converters: dict[str, Callable[[str], Any]] = {
        "string": str,
        "integer": integer,
        "float": real,
        "boolean": boolean,
        "date": day,
        "datetime": when,
    }
    return converters[col.type]
