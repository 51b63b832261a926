"""Where things are in Indonesia, in plain Python: province -> region (the island
groups couriers price by), the coordinates of the larger cities (for a
destination that came without a location), and great-circle distance.

The tables cover every province (38 since 2022) and about fifty cities; an
address outside them still routes by province, only distance rules (ship
from store, same day) need coordinates.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

from oms.models.common import REGIONS  # noqa: F401 (defined with the models, which must not import the domain)

_PROVINCES = {
    "java": ["dki jakarta", "jawa barat", "banten", "jawa tengah", "di yogyakarta", "jawa timur"],
    "sumatra": [
        "aceh", "sumatera utara", "sumatera barat", "riau", "kepulauan riau", "jambi",
        "sumatera selatan", "kepulauan bangka belitung", "bengkulu", "lampung",
    ],
    "bali_nt": ["bali", "nusa tenggara barat", "nusa tenggara timur"],
    "kalimantan": [
        "kalimantan barat", "kalimantan tengah", "kalimantan selatan", "kalimantan timur", "kalimantan utara",
    ],
    "sulawesi": [
        "sulawesi utara", "gorontalo", "sulawesi tengah", "sulawesi barat", "sulawesi selatan", "sulawesi tenggara",
    ],
    "papua_maluku": [
        "maluku", "maluku utara", "papua", "papua barat", "papua barat daya", "papua tengah",
        "papua pegunungan", "papua selatan",
    ],
}  # fmt: skip
REGION_BY_PROVINCE = {province: region for region, names in _PROVINCES.items() for province in names}

# What shops and marketplaces actually send for a province.
_ALIASES = {
    "jakarta": "dki jakarta",
    "daerah khusus ibukota jakarta": "dki jakarta",
    "yogyakarta": "di yogyakarta",
    "diy": "di yogyakarta",
    "daerah istimewa yogyakarta": "di yogyakarta",
    "jabar": "jawa barat",
    "west java": "jawa barat",
    "jateng": "jawa tengah",
    "central java": "jawa tengah",
    "jatim": "jawa timur",
    "east java": "jawa timur",
    "ntb": "nusa tenggara barat",
    "ntt": "nusa tenggara timur",
    "bangka belitung": "kepulauan bangka belitung",
    "babel": "kepulauan bangka belitung",
    "kepri": "kepulauan riau",
    "sumut": "sumatera utara",
    "sumbar": "sumatera barat",
    "sumsel": "sumatera selatan",
    "north sumatra": "sumatera utara",
    "nanggroe aceh darussalam": "aceh",
    "sulsel": "sulawesi selatan",
    "sulut": "sulawesi utara",
    "kaltim": "kalimantan timur",
    "kalbar": "kalimantan barat",
    "kalsel": "kalimantan selatan",
}


def _clean(name: str) -> str:
    text = re.sub(r"[^a-z ]", " ", name.lower())
    text = re.sub(r"^\s*(provinsi|prov)\s+", "", text)
    return re.sub(r"\s+", " ", text).strip()


@lru_cache(maxsize=1024)
def province_key(name: str | None) -> str | None:
    if not name:
        return None
    key = _clean(name)
    key = _ALIASES.get(key, key)
    return key if key in REGION_BY_PROVINCE else None


@dataclass(frozen=True)
class City:
    name: str
    province: str
    lat: float
    lng: float


_CITIES = [
    ("Jakarta Pusat", "dki jakarta", -6.1865, 106.8341), ("Jakarta Barat", "dki jakarta", -6.1683, 106.7588),
    ("Jakarta Selatan", "dki jakarta", -6.2615, 106.8106), ("Jakarta Timur", "dki jakarta", -6.2250, 106.9004),
    ("Jakarta Utara", "dki jakarta", -6.1214, 106.7741), ("Bekasi", "jawa barat", -6.2383, 106.9756),
    ("Bogor", "jawa barat", -6.5971, 106.8060), ("Depok", "jawa barat", -6.4025, 106.7942),
    ("Karawang", "jawa barat", -6.3227, 107.3376), ("Bandung", "jawa barat", -6.9175, 107.6191),
    ("Cirebon", "jawa barat", -6.7320, 108.5523), ("Tangerang", "banten", -6.1783, 106.6319),
    ("Tangerang Selatan", "banten", -6.2886, 106.7179), ("Serang", "banten", -6.1200, 106.1503),
    ("Semarang", "jawa tengah", -6.9667, 110.4167), ("Surakarta", "jawa tengah", -7.5755, 110.8243),
    ("Yogyakarta", "di yogyakarta", -7.7956, 110.3695), ("Sleman", "di yogyakarta", -7.7160, 110.3556),
    ("Surabaya", "jawa timur", -7.2575, 112.7521), ("Sidoarjo", "jawa timur", -7.4478, 112.7183),
    ("Malang", "jawa timur", -7.9666, 112.6326), ("Denpasar", "bali", -8.6705, 115.2126),
    ("Badung", "bali", -8.5819, 115.1771), ("Mataram", "nusa tenggara barat", -8.5833, 116.1167),
    ("Kupang", "nusa tenggara timur", -10.1772, 123.6070), ("Medan", "sumatera utara", 3.5952, 98.6722),
    ("Padang", "sumatera barat", -0.9471, 100.4172), ("Pekanbaru", "riau", 0.5071, 101.4478),
    ("Batam", "kepulauan riau", 1.0456, 104.0305), ("Palembang", "sumatera selatan", -2.9761, 104.7754),
    ("Bandar Lampung", "lampung", -5.3971, 105.2668), ("Jambi", "jambi", -1.6101, 103.6131),
    ("Banda Aceh", "aceh", 5.5483, 95.3238), ("Bengkulu", "bengkulu", -3.7928, 102.2608),
    ("Pangkal Pinang", "kepulauan bangka belitung", -2.1291, 106.1138),
    ("Pontianak", "kalimantan barat", -0.0263, 109.3425), ("Banjarmasin", "kalimantan selatan", -3.3186, 114.5944),
    ("Balikpapan", "kalimantan timur", -1.2379, 116.8529), ("Samarinda", "kalimantan timur", -0.5022, 117.1536),
    ("Palangka Raya", "kalimantan tengah", -2.2161, 113.9135), ("Tarakan", "kalimantan utara", 3.3000, 117.6333),
    ("Makassar", "sulawesi selatan", -5.1477, 119.4327), ("Manado", "sulawesi utara", 1.4748, 124.8421),
    ("Palu", "sulawesi tengah", -0.8917, 119.8707), ("Kendari", "sulawesi tenggara", -3.9985, 122.5130),
    ("Gorontalo", "gorontalo", 0.5435, 123.0568), ("Mamuju", "sulawesi barat", -2.6748, 118.8885),
    ("Ambon", "maluku", -3.6954, 128.1814), ("Ternate", "maluku utara", 0.7893, 127.3842),
    ("Jayapura", "papua", -2.5337, 140.7181), ("Sorong", "papua barat daya", -0.8762, 131.2558),
    ("Manokwari", "papua barat", -0.8615, 134.0620), ("Merauke", "papua selatan", -8.4932, 140.4018),
]  # fmt: skip
CITIES = {_clean(name): City(name, province, lat, lng) for name, province, lat, lng in _CITIES}
_CITY_ALIASES = {"solo": "surakarta", "jakarta": "jakarta pusat", "kota bandung": "bandung", "kuta": "badung"}


@lru_cache(maxsize=4096)
def city_key(name: str | None) -> str | None:
    if not name:
        return None
    key = re.sub(r"^(kota|kabupaten|kab)\s+", "", _clean(name))
    key = _CITY_ALIASES.get(key, key)
    return key


def find_city(name: str | None) -> City | None:
    key = city_key(name)
    return CITIES.get(key) if key else None


def distance_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance (haversine). Roads are longer; the rules' limits are set with that in mind."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


@dataclass(frozen=True)
class Place:
    """A node or a destination as the rate table and the distance rules see it."""

    region: str | None
    province: str | None
    city: str | None
    lat: float | None
    lng: float | None

    @property
    def located(self) -> bool:
        return self.lat is not None and self.lng is not None


@lru_cache(maxsize=4096)
def place(province: str | None, city: str | None, lat: object = None, lng: object = None) -> Place:
    """From what an address or a node says; the city table fills a missing province or location.
    Cached: nodes are asked for on every plan, and buyers cluster in the same cities."""
    known_city = find_city(city)
    province_name = province_key(province) or (known_city.province if known_city else None)
    if lat is None or lng is None:
        lat, lng = (known_city.lat, known_city.lng) if known_city else (None, None)
    return Place(
        region=REGION_BY_PROVINCE.get(province_name) if province_name else None,
        province=province_name,
        city=city_key(city),
        lat=float(lat) if lat is not None else None,
        lng=float(lng) if lng is not None else None,
    )


def zone_between(origin: Place, destination: Place, metro_km: float = 0) -> str | None:
    """The rate table's zone: same city (or within metro_km: couriers price Jabodetabek or
    Surabaya-Sidoarjo as one city), same province, else '<region>><region>'. None when unknown."""
    if origin.city and origin.city == destination.city:
        return "city"
    if (
        metro_km
        and origin.located
        and destination.located
        and distance_km(origin.lat, origin.lng, destination.lat, destination.lng) <= metro_km  # type: ignore[arg-type]
    ):
        return "city"
    if origin.province and origin.province == destination.province:
        return "province"
    if origin.region and destination.region:
        return f"{origin.region}>{destination.region}"
    return None


# Postal code prefixes (the first two digits) -> province, from Pos Indonesia's numbering.
_POSTAL = {
    **dict.fromkeys(("10", "11", "12", "13", "14"), "dki jakarta"),
    "15": "banten", "42": "banten",
    **dict.fromkeys(("16", "17", "40", "41", "43", "44", "45", "46"), "jawa barat"),
    **dict.fromkeys(("50", "51", "52", "53", "54", "56", "57", "58", "59"), "jawa tengah"),
    "55": "di yogyakarta",
    **dict.fromkeys(("60", "61", "62", "63", "64", "65", "66", "67", "68", "69"), "jawa timur"),
    **dict.fromkeys(("80", "81", "82"), "bali"),
    **dict.fromkeys(("83", "84"), "nusa tenggara barat"),
    **dict.fromkeys(("85", "86", "87"), "nusa tenggara timur"),
    **dict.fromkeys(("20", "21", "22"), "sumatera utara"),
    **dict.fromkeys(("23", "24"), "aceh"),
    **dict.fromkeys(("25", "26", "27"), "sumatera barat"),
    "28": "riau", "29": "kepulauan riau",
    **dict.fromkeys(("30", "31", "32"), "sumatera selatan"),
    "33": "kepulauan bangka belitung",
    **dict.fromkeys(("34", "35"), "lampung"),
    **dict.fromkeys(("36", "37"), "jambi"),
    **dict.fromkeys(("38", "39"), "bengkulu"),
    **dict.fromkeys(("70", "71", "72"), "kalimantan selatan"),
    **dict.fromkeys(("73", "74"), "kalimantan tengah"),
    **dict.fromkeys(("75", "76"), "kalimantan timur"),
    "77": "kalimantan utara",
    **dict.fromkeys(("78", "79"), "kalimantan barat"),
    **dict.fromkeys(("90", "91", "92"), "sulawesi selatan"),
    "93": "sulawesi tenggara", "94": "sulawesi tengah", "95": "sulawesi utara", "96": "gorontalo",
    "97": "maluku", "98": "papua", "99": "papua",
}  # fmt: skip


def postal_province(postal_code: str | None) -> str | None:
    """The province a five-digit Indonesian postal code belongs to, or None."""
    if not postal_code or len(postal_code) != 5 or not postal_code.isdigit():
        return None
    return _POSTAL.get(postal_code[:2])


# Where a postal prefix is one metro area, its city: a cart quoted by postal code alone can then
# be placed for distance rules (ship from store, same day, the metro courier rate).
_POSTAL_CITY = {
    **dict.fromkeys(("10", "11", "12", "13", "14"), "jakarta pusat"),
    "15": "tangerang",
    "16": "bogor",
    "17": "bekasi",
    "40": "bandung",
    "60": "surabaya",
    "80": "denpasar",
}  # fmt: skip  (only prefixes that are one metro area; the rest of a province is too wide to place)


def postal_city(postal_code: str | None) -> str | None:
    """The city a postal prefix stands for when it is one metro area, else None."""
    if not postal_code or len(postal_code) != 5 or not postal_code.isdigit():
        return None
    key = _POSTAL_CITY.get(postal_code[:2])
    return CITIES[key].name if key else None
