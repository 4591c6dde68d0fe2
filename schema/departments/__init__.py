"""The city's departments. Each package has the same files: `models` (its datasets), `seed`
(deterministic demo data) and, where real files exist, `sources` (their importers)."""

from __future__ import annotations

from schema.departments.environment.models import AirQualityMeasurement, AirQualityStation
from schema.departments.facilities.models import PublicToilet
from schema.departments.finance.models import BudgetLine
from schema.departments.mobility.models import (
    BikeStation,
    TransitRoute,
    TransitStop,
    TransitStopTime,
    TransitTrip,
)
from schema.departments.registry.models import Household, Resident
from schema.departments.social.models import BenefitCase
from schema.departments.tax.models import TaxAssessment
from schema.departments.territory.models import District, Quartier
from schema.departments.urbanism.models import BuildingPermit
from schema.modeling import CityModel

MODELS: tuple[type[CityModel], ...] = (
    District,
    Quartier,
    BikeStation,
    TransitRoute,
    TransitStop,
    TransitTrip,
    TransitStopTime,
    AirQualityStation,
    AirQualityMeasurement,
    PublicToilet,
    BudgetLine,
    BuildingPermit,
    Household,
    Resident,
    BenefitCase,
    TaxAssessment,
)
"""Every built-in dataset, in the order the catalog lists them."""
