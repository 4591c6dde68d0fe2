"""Environment: air-quality monitoring stations and their hourly measurements."""

from __future__ import annotations

from datetime import datetime

from schema.modeling import CityModel, Dataset, column

ATTRIBUTION = "OpenAQ (from Airparif, EEA and others), via the pandas documentation data"


class AirQualityStation(CityModel, table=True):
    __tablename__ = "air_quality_station"
    __dataset__ = Dataset(
        name="airQualityStations",
        title="Air-quality stations",
        description="Monitoring stations that report air-quality measurements.",
        department="environment",
        publisher="OpenAQ",
        license="ODbL-1.0",
        license_url="https://opendatacommons.org/licenses/odbl/1-0/",
        attribution=ATTRIBUTION,
        frequency="irregular",
        keywords=("air quality", "stations"),
        spatial="Paris, Antwerp, London",
    )

    id: str = column("Station code, for example FR04014.", primary_key=True)
    latitude: float = column("Latitude (WGS84).", role="latitude")
    longitude: float = column("Longitude (WGS84).", role="longitude")
    district_code: str | None = column(
        "Arrondissement containing the station; null outside Paris.",
        references="district.code",
        role="district",
    )


class AirQualityMeasurement(CityModel, table=True):
    __tablename__ = "air_quality_measurement"
    __dataset__ = Dataset(
        name="airQualityMeasurements",
        title="Air-quality measurements",
        description="Hourly concentrations of pollutants (NO2) measured by the stations.",
        department="environment",
        publisher="OpenAQ",
        license="ODbL-1.0",
        license_url="https://opendatacommons.org/licenses/odbl/1-0/",
        attribution=ATTRIBUTION,
        frequency="hourly",
        keywords=("air quality", "no2", "pollution"),
        spatial="Paris, Antwerp, London",
        temporal=("2019-05-07", "2019-06-21"),
    )

    station_id: str = column(
        "Station that measured.",
        primary_key=True,
        references="air_quality_station.id",
        reverse="measurements",
    )
    parameter: str = column("Pollutant measured, for example no2.", primary_key=True, group_by=True)
    measured_at: datetime = column("End of the hour measured, in UTC.", primary_key=True)
    city: str = column("City of the station.", group_by=True)
    country: str = column("Country code of the station.", group_by=True)
    value: float = column("Measured concentration.")
    unit: str = column("Unit of the value, for example µg/m³.")
