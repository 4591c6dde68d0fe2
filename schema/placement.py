"""Where a published row lies: its district from its label, its coordinates, or neither.

A row is never dropped for its district (DESIGN section 7). When the row's label names an
arrondissement and it has no coordinates, the label decides; when the label names none (a suburb,
a typo) or is empty, the coordinates decide by point-in-polygon; when neither places it, its
district is null. When both do, the manifest's `district_from` chooses which one decides, and the
rows where they disagree are counted. docs/manifest.md ("Districts") is the reference.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from schema.ingest.geo import DistrictLocator

LABEL = "district from the label"
COORDINATES = "district from the coordinates"
UNPLACED = "without a district"
UNKNOWN_LABEL = "label naming no arrondissement"
DISAGREE = "label and coordinates disagree"


@dataclass
class Placement:
    """Decides each row's district and counts how every row got it."""

    locator: DistrictLocator | None
    prefer: str = "label"
    """"label" or "coordinates": which decides when a row has both."""
    counts: Counter[str] = field(default_factory=Counter)

    def place(
        self,
        *,
        label: str | None,
        unknown_label: bool,
        latitude: float | None,
        longitude: float | None,
    ) -> str | None:
        """The row's district: `label` is the INSEE code its label names (None when it names none
        or is empty; `unknown_label` tells which)."""
        if unknown_label:
            self.counts[UNKNOWN_LABEL] += 1
        located: str | None = None
        has_position = False
        if latitude is not None and longitude is not None and self.locator:
            has_position = True
            located = self.locator.locate(latitude=latitude, longitude=longitude)
        if label is not None and has_position and located != label:
            self.counts[DISAGREE] += 1
        if label is not None and not (has_position and self.prefer == "coordinates"):
            self.counts[LABEL] += 1
            return label
        if located is not None:
            self.counts[COORDINATES] += 1
            return located
        self.counts[UNPLACED] += 1
        return None

    def summary(self, column: str, *, labelled: bool) -> str:
        """One line for the report: how many rows got their district each way."""
        if not labelled:
            return (
                f"{column} from the coordinates: {self.counts[COORDINATES]} rows in a district, "
                f"{self.counts[UNPLACED]} outside every district or without coordinates"
            )
        parts = [
            f"{self.counts[LABEL]} from their label",
            f"{self.counts[COORDINATES]} from their coordinates",
            f"{self.counts[UNPLACED]} without a district",
        ]
        line = f"{column}: " + ", ".join(parts)
        if self.counts[UNKNOWN_LABEL]:
            line += f"; {self.counts[UNKNOWN_LABEL]} labels name no arrondissement"
        if self.counts[DISAGREE]:
            decided = "the coordinates" if self.prefer == "coordinates" else "the label"
            rows = self.counts[DISAGREE]
            line += (
                f"; label and coordinates disagree on {rows} row{'s' if rows != 1 else ''}"
                f" ({decided} decided)"
            )
        return line
