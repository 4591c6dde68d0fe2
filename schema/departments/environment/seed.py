"""Environment for the demo city when the real files are absent: a few air-quality stations and
their hourly NO2 measurements over the same weeks as the real OpenAQ extract."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from schema.departments.seedkit import rewriting
from schema.departments.territory.seed import Territory
from schema.ingest import ImportReport

if TYPE_CHECKING:
    from schema.city import City

STATIONS: tuple[tuple[str, float], ...] = (
    ("FR04004", 24.0),
    ("FR04012", 48.0),
    ("FR04014", 30.0),
    ("FR04037", 20.0),
    ("FR04143", 42.0),
)
"""Station codes in Airparif's style and their mean NO2 level (µg/m³): roadside stations near
heavy traffic run about twice as high as background ones."""

FIRST_HOUR = datetime(2019, 5, 7, 1, tzinfo=UTC)
LAST_HOUR = datetime(2019, 6, 21, 0, tzinfo=UTC)
MISSING_SHARE = 0.02
"""Real monitors miss a few hours (maintenance, calibration)."""


def stations(rng: random.Random, territory: Territory) -> list[dict[str, Any]]:
    """One station in each of a few different districts."""
    districts = rng.sample(territory.districts, min(len(STATIONS), len(territory.districts)))
    rows = []
    for (code, _level), district in zip(STATIONS, districts, strict=False):
        quartier = rng.choice(territory.quartiers_of[district.code])
        lat, lon = territory.point_in(rng, quartier)
        rows.append({"id": code, "latitude": lat, "longitude": lon, "district_code": district.code})
    return rows


def _daily_cycle(local_hour: int) -> float:
    # Morning and evening rush hours, and clean air before dawn.
    morning = 0.55 * math.exp(-(((local_hour - 8) / 1.6) ** 2))
    evening = 0.40 * math.exp(-(((local_hour - 19) / 2.0) ** 2))
    night = 0.35 * math.exp(-(((local_hour - 4) / 2.0) ** 2))
    return 1.0 + morning + evening - night


def measurements(rng: random.Random, station_ids: list[str]) -> Iterator[dict[str, Any]]:
    """Hourly NO2 values: daily cycle, quieter weekends, weather that lasts a few days, noise."""
    levels = dict(STATIONS)
    weather = 0.0
    hour = FIRST_HOUR
    day = hour.date()
    while hour <= LAST_HOUR:
        if hour.date() != day:
            day = hour.date()
            weather = 0.7 * weather + rng.gauss(0.0, 0.25)
        local = hour + timedelta(hours=2)  # Paris summer time
        weekend = 0.8 if local.weekday() >= 5 else 1.0
        cycle = _daily_cycle(local.hour) * weekend * math.exp(weather)
        for station_id in station_ids:
            noise = rng.lognormvariate(0.0, 0.18)
            if rng.random() < MISSING_SHARE:
                continue
            yield {
                "station_id": station_id,
                "parameter": "no2",
                "measured_at": hour,
                "city": "Paris",
                "country": "FR",
                "value": round(levels[station_id] * cycle * noise, 1),
                "unit": "µg/m³",
            }
        hour += timedelta(hours=1)


async def seed(*, city: City, rng: random.Random, territory: Territory) -> ImportReport:
    """Replace the air-quality stations and measurements with generated ones."""
    rows = stations(rng, territory)
    async with rewriting(city, "airQualityStations", "airQualityMeasurements") as rewrite:
        await rewrite.insert("airQualityStations", rows)
        await rewrite.insert_all(
            "airQualityMeasurements", measurements(rng, [r["id"] for r in rows])
        )
    report = ImportReport(loaded=rewrite.counts)
    report.notes.append("airQualityStations, airQualityMeasurements: generated (no OpenAQ files)")
    return report
