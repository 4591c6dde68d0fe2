"""Mobility: bike-share stations and the public-transit timetable (GTFS)."""

from __future__ import annotations

from schema.modeling import CityModel, Dataset, column

ODBL = "https://opendatacommons.org/licenses/odbl/1-0/"
CC_BY = "https://creativecommons.org/licenses/by/4.0/"


class BikeStation(CityModel, table=True):
    __tablename__ = "bike_station"
    __dataset__ = Dataset(
        name="bikeStations",
        title="Vélib' stations",
        description="Locations and capacities of the Vélib' Métropole bike-share stations.",
        department="mobility",
        publisher="Vélib' Métropole (Smovengo), via Ville de Paris",
        license="ODbL-1.0",
        license_url=ODBL,
        attribution="Vélib' Métropole, dataset « velib-emplacement-des-stations » (opendata.paris.fr)",
        frequency="daily",
        keywords=("bike share", "velib", "mobility"),
        source="https://opendata.paris.fr/explore/dataset/velib-emplacement-des-stations/",
    )

    id: str = column("Station identifier as published by the operator.", primary_key=True)
    name: str = column("Station name.")
    capacity: int = column("Number of docks.")
    latitude: float = column("Latitude (WGS84).", role="latitude")
    longitude: float = column("Longitude (WGS84).", role="longitude")
    district_code: str | None = column(
        "Arrondissement containing the station; null outside the 20 arrondissements.",
        references="district.code",
        role="district",
    )


GTFS_ATTRIBUTION = "Queensland Government, TransLink (Sunbus Cairns) GTFS, 2014"


def _gtfs(name: str, title: str, description: str, singular: str) -> Dataset:
    return Dataset(
        name=name,
        singular=singular,
        title=title,
        description=description + " From the public-transit feed (GTFS).",
        department="mobility",
        publisher="Queensland Government, Department of Transport and Main Roads (TransLink)",
        license="CC-BY-4.0",
        license_url=CC_BY,
        attribution=GTFS_ATTRIBUTION,
        frequency="quarterly",
        keywords=("gtfs", "public transport"),
        spatial="Cairns, Queensland, Australia",
        temporal=("2014-05-26", "2014-12-28"),
    )


class TransitRoute(CityModel, table=True):
    __tablename__ = "transit_route"
    __dataset__ = _gtfs("transitRoutes", "Transit routes", "Bus and tram routes.", "transitRoute")

    id: str = column("GTFS route_id.", primary_key=True)
    short_name: str | None = column("Short name shown to riders, for example « 110 ».")
    long_name: str | None = column("Full name of the route.")
    route_type: int = column("GTFS route_type (3 is bus).", group_by=True)
    color: str | None = column("Route colour as hex, without #.")


class TransitStop(CityModel, table=True):
    __tablename__ = "transit_stop"
    __dataset__ = _gtfs("transitStops", "Transit stops", "Stops and stations.", "transitStop")

    id: str = column("GTFS stop_id.", primary_key=True)
    code: str | None = column("Short code shown at the stop.")
    name: str = column("Stop name.")
    latitude: float = column("Latitude (WGS84).", role="latitude")
    longitude: float = column("Longitude (WGS84).", role="longitude")
    district_code: str | None = column(
        "Arrondissement containing the stop; null when outside the city.",
        references="district.code",
        role="district",
    )


class TransitTrip(CityModel, table=True):
    __tablename__ = "transit_trip"
    __dataset__ = _gtfs("transitTrips", "Transit trips", "Scheduled journeys.", "transitTrip")

    id: str = column("GTFS trip_id.", primary_key=True)
    route_id: str = column(
        "Route this trip runs on.", references="transit_route.id", reverse="trips"
    )
    service_id: str = column("Service calendar of the trip.", group_by=True)
    headsign: str | None = column("Destination shown on the vehicle.")
    direction_id: int | None = column("Direction of travel, 0 or 1.", group_by=True)
    shape_id: str | None = column("Shape of the path travelled.")


class TransitStopTime(CityModel, table=True):
    __tablename__ = "transit_stop_time"
    __dataset__ = _gtfs(
        "transitStopTimes",
        "Transit stop times",
        "When each trip serves each stop.",
        "transitStopTime",
    )

    trip_id: str = column(
        "Trip served.", primary_key=True, references="transit_trip.id", reverse="stopTimes"
    )
    stop_sequence: int = column("Order of the stop within the trip.", primary_key=True)
    stop_id: str = column("Stop served.", references="transit_stop.id", reverse="stopTimes")
    arrival_time: str | None = column("Arrival time HH:MM:SS (may pass 24:00:00 after midnight).")
    departure_time: str | None = column("Departure time HH:MM:SS (may pass 24:00:00).")
