"""Facilities for the demo city when the real file is absent: public toilets shaped like the city's
own « sanisettes » dataset (kinds, opening hours, accessibility, addresses in capitals)."""

from __future__ import annotations

import hashlib
import random
import unicodedata
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from schema.departments.registry.names import FAMILY_NAMES, GIVEN_NAMES_ANY, STREETS
from schema.departments.seedkit import rewriting
from schema.departments.territory.seed import Territory
from schema.ingest import ImportReport

if TYPE_CHECKING:
    from schema.city import City

TOILETS = 600

KINDS: tuple[tuple[str, float], ...] = (
    ("SANISETTES", 0.69),
    ("TOILETTES", 0.26),
    ("URINOIR", 0.01),
    ("URINOIR MOBILE", 0.015),
    ("CABINE MOBILE", 0.015),
    ("WC PUBLICS PERMANENTS", 0.01),
)
"""Kinds and their shares, close to the real dataset's."""


def _capitals(text: str) -> str:
    # The city writes these addresses in capitals without accents or apostrophes.
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return plain.replace("'", " ").replace("-", " ").upper()


def _stable_id(kind: str, address: str, lat: float, lon: float) -> str:
    digest = hashlib.sha256(f"{kind}|{address}|{lat:.6f}|{lon:.6f}".encode()).hexdigest()
    return digest[:16]


def toilets(
    rng: random.Random, territory: Territory, *, count: int = TOILETS
) -> Iterator[dict[str, Any]]:
    """Toilets spread over the quartiers."""
    kinds = [k for k, _ in KINDS]
    weights = [w for _, w in KINDS]
    numbers = {d.code: n for n, d in enumerate(territory.districts, start=1)}
    for _ in range(count):
        quartier = rng.choice(territory.quartiers)
        lat, lon = territory.point_in(rng, quartier)
        kind = rng.choices(kinds, weights)[0]
        streets = STREETS[(numbers[quartier.district_code] - 1) % len(STREETS)]
        if kind == "TOILETTES" and rng.random() < 0.5:
            # Toilets in parks and squares carry the garden's name instead of a street number.
            place = rng.choice(("SQUARE", "JARDIN", "PARC"))
            address = f"{place} {_capitals(rng.choice(GIVEN_NAMES_ANY))} {_capitals(rng.choice(FAMILY_NAMES))}"
        else:
            prefix = "FACE AU " if rng.random() < 0.3 else ""
            address = f"{prefix}{rng.randint(1, 140)} {_capitals(rng.choice(streets))}"
        if kind == "SANISETTES":
            status: str | None = "Ouvert" if rng.random() < 0.85 else "Fermé"
            hours = rng.choices(("24 h / 24", "6 h - 22 h", "6 h - 1 h"), (0.4, 0.5, 0.1))[0]
            accessible: bool | None = True
            baby: bool | None = None
        elif kind == "TOILETTES":
            status = None
            hours = "Voir fiche équipement"
            accessible = rng.random() < 0.45
            baby = rng.random() < 0.08
        else:
            status = "Ouvert"
            hours = rng.choice(("6 h - 22 h", "10 h - 22 h"))
            accessible = False
            baby = None
        yield {
            "id": _stable_id(kind, address, lat, lon),
            "kind": kind,
            "status": status,
            "address": address,
            "hours": hours,
            "wheelchair_accessible": accessible,
            "baby_changing": baby,
            "url": None,
            "latitude": lat,
            "longitude": lon,
            "district_code": quartier.district_code,
        }


async def seed(*, city: City, rng: random.Random, territory: Territory) -> ImportReport:
    """Replace the public toilets with generated ones."""
    async with rewriting(city, "publicToilets") as rewrite:
        await rewrite.insert_all("publicToilets", toilets(rng, territory))
    report = ImportReport(loaded=rewrite.counts)
    report.notes.append("publicToilets: generated (no sanisettes file)")
    return report
