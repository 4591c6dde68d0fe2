"""Build the demo city: real open data where its files are present, generated data elsewhere, and
synthetic personal data always, all seeded so that the same seed and size give the same rows.

Order matters: the territory comes first because every other dataset is placed in it; the civil
registry comes before social services, tax and urbanism, which draw their people from it; the
districts' populations come last, counted from the registry.
"""

from __future__ import annotations

import math
import random
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from schema.departments.environment import seed as environment
from schema.departments.facilities import seed as facilities
from schema.departments.finance import seed as finance
from schema.departments.mobility import seed as mobility
from schema.departments.registry import seed as registry
from schema.departments.seedkit import (
    CHUNK,
    Rewrite,
    adults_only,
    count_rows,
    department_rng,
    rewriting,
    stream_rows,
    tracked_async,
)
from schema.departments.social import seed as social
from schema.departments.tax import seed as tax
from schema.departments.territory import seed as territory_seed
from schema.departments.territory.seed import Territory
from schema.departments.urbanism import seed as urbanism
from schema.ingest import ImportReport
from schema.ingest.gtfs import import_gtfs
from schema.ingest.paris import FILES as PARIS_FILES
from schema.ingest.paris import import_paris

if TYPE_CHECKING:
    from rich.progress import Progress

    from schema.city import City

PARIS_DATASETS = (
    "districts",
    "quartiers",
    "bikeStations",
    "publicToilets",
    "airQualityStations",
    "airQualityMeasurements",
)
"""What `import_paris` fills from the Paris files."""
GTFS_FEED = Path("gtfs") / "cairns_gtfs.zip"
TRANSIT_DATASETS = ("transitRoutes", "transitStops", "transitTrips", "transitStopTimes")


async def _clear(city: City, datasets: tuple[str, ...]) -> None:
    # The importers replace most tables, but measurements accumulate: emptying first drops the
    # generated rows of an earlier build, so a city is never half generated, half real.
    for name in datasets:
        async with rewriting(city, name, version=False):
            pass


async def _import_real(
    city: City, folder: Path | None, progress: Progress | None, report: ImportReport
) -> set[str]:
    """Import the real open datasets present in `folder`; the names of the datasets now filled."""
    if folder is None:
        return set()
    present = [name for name in PARIS_FILES if (folder / name).is_file()]
    if len(present) == len(PARIS_FILES):
        await _clear(city, PARIS_DATASETS)
        report.merge(await import_paris(city, folder, progress=progress))
    elif present:
        missing = ", ".join(name for name in PARIS_FILES if name not in present)
        report.notes.append(f"{folder} lacks {missing}: the Paris datasets are generated instead")
    if (folder / GTFS_FEED).is_file():
        await _clear(city, TRANSIT_DATASETS)
        report.merge(await import_gtfs(city, folder / GTFS_FEED, progress=progress))
    return {
        name for name in (*PARIS_DATASETS, *TRANSIT_DATASETS) if await count_rows(city, name) > 0
    }


async def _drawn_from_registry(
    city: City, *, seed: int, territory: Territory, residents: int, progress: Progress | None
) -> ImportReport:
    """Benefit cases, tax assessments and building permits, drawn in one read of the registry.

    Each department's drawer sees the same residents in the same order, with its own random
    stream, as its own `seed` would show it: the rows are the same, and a million residents are
    read once instead of three times (reading costs about 4 µs a row through the async driver).
    """
    cases = social.CaseDrawer(department_rng(seed, "social"))
    assessments = tax.AssessmentDrawer(
        department_rng(seed, "tax"), [d.code for d in territory.districts]
    )
    urbanism_rng = department_rng(seed, "urbanism")
    permits = urbanism.permit_count(residents)
    adults = await urbanism.adult_count(city)
    picker = urbanism.ApplicantPicker(
        urbanism_rng, adults=adults, wanted=round(permits * urbanism.PRIVATE_SHARE)
    )
    columns = tuple(
        dict.fromkeys(("id", "birth_date", "district_code", *urbanism.APPLICANT_COLUMNS))
    )
    parts = tracked_async(
        stream_rows(city, "residents", columns, where=adults_only(city)),
        progress,
        "social, tax, urbanism: residents",
        total=math.ceil(adults / CHUNK),
    )
    async with AsyncExitStack() as stack:
        writers = await _rewrites(stack, city, ("benefitCases", "taxAssessments"))
        async for part in parts:
            await writers["benefitCases"].insert("benefitCases", cases.cases(part))
            await writers["taxAssessments"].insert("taxAssessments", assessments.assessments(part))
            picker.offer(part)
    report = cases.report(writers["benefitCases"].counts)
    report.merge(assessments.report(writers["taxAssessments"].counts))
    report.merge(
        await urbanism.write_permits(
            city=city, rng=urbanism_rng, territory=territory, picker=picker, total=permits
        )
    )
    return report


async def _rewrites(
    stack: AsyncExitStack, city: City, datasets: tuple[str, ...]
) -> dict[str, Rewrite]:
    """One rewrite per database among the datasets' (a SQLite file has a single writer at a time,
    so datasets sharing one must share its transaction)."""
    groups: dict[int, list[str]] = {}
    for name in datasets:
        groups.setdefault(id(city.repository(name).engine), []).append(name)
    writers: dict[str, Rewrite] = {}
    for names in groups.values():
        rewrite = await stack.enter_async_context(rewriting(city, *names))
        writers.update(dict.fromkeys(names, rewrite))
    return writers


async def build_demo(
    city: City,
    *,
    seed: int,
    residents: int,
    open_data_dir: Path | None,
    progress: Progress | None,
) -> ImportReport:
    """Build the whole demo city; rebuilding with the same arguments gives the same rows."""
    if residents < 0:
        raise ValueError("residents must be zero or more")
    report = ImportReport()
    real = await _import_real(city, open_data_dir, progress, report)

    def rng(department: str) -> random.Random:
        return department_rng(seed, department)

    if not {"districts", "quartiers"} <= real:
        real -= {"districts", "quartiers"}
        report.merge(await territory_seed.seed(city=city, rng=rng("territory"), progress=progress))
    territory = await Territory.load(city)
    codes = [d.code for d in territory.districts]

    if not {"bikeStations", *TRANSIT_DATASETS} <= real:
        report.merge(
            await mobility.seed(
                city=city,
                rng=rng("mobility"),
                territory=territory,
                bike_stations_wanted="bikeStations" not in real,
                transit_wanted=not set(TRANSIT_DATASETS) <= real,
            )
        )
    if not {"airQualityStations", "airQualityMeasurements"} <= real:
        report.merge(await environment.seed(city=city, rng=rng("environment"), territory=territory))
    if "publicToilets" not in real:
        report.merge(await facilities.seed(city=city, rng=rng("facilities"), territory=territory))

    report.merge(
        await registry.seed(
            city=city,
            rng=rng("registry"),
            territory=territory,
            residents=residents,
            progress=progress,
        )
    )
    report.merge(
        await _drawn_from_registry(
            city, seed=seed, territory=territory, residents=residents, progress=progress
        )
    )
    report.merge(await finance.seed(city=city, rng=rng("finance"), district_codes=codes))
    report.merge(await territory_seed.set_populations(city=city))

    if real:
        report.notes.append("real open data: " + ", ".join(sorted(real)))
    generated = {
        s.name: report.loaded.get(s.name)
        for s in city.catalog.datasets
        if not s.published and s.name not in real
    }
    await city.record_loads(generated, origin="generated", source=f"citygraph demo, seed {seed}")
    return report
