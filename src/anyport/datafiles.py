"""Where the shipped data files live."""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
CATALOG_DIR = DATA_DIR / "catalog"
IANA_SERVICES_CSV = DATA_DIR / "iana" / "service-names-port-numbers.csv"
IANA_PROTOCOLS_CSV = DATA_DIR / "iana" / "protocol-numbers-1.csv"
TROJANS_CSV = DATA_DIR / "trojans" / "openvas_trojanlist.csv"
NMAP_SERVICES = Path("/usr/share/nmap/nmap-services")
