"""Where the shipped data files live (plain strings: the start-up path avoids importing pathlib)."""

from __future__ import annotations

import os

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
CATALOG_DIR = os.path.join(DATA_DIR, "catalog")
IANA_SERVICES_CSV = os.path.join(DATA_DIR, "iana", "service-names-port-numbers.csv")
IANA_PROTOCOLS_CSV = os.path.join(DATA_DIR, "iana", "protocol-numbers-1.csv")
TROJANS_CSV = os.path.join(DATA_DIR, "trojans", "openvas_trojanlist.csv")
NMAP_SERVICES = "/usr/share/nmap/nmap-services"
