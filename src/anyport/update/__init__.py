"""Keeping the IANA registries current: fetch, verify, compare, and switch without ever breaking a lookup.

``anyport update`` and ``anyport diff`` call :func:`update`, :func:`rollback` and :func:`diff_candidates`.
"""

from __future__ import annotations

from anyport.update.apply import SHRINK_LIMIT, UpdateReport, rollback, update
from anyport.update.diff import Change, RegistryDiff
from anyport.update.registry import IANA_PROTOCOLS_URL, IANA_SERVICES_URL, diff_candidates

__all__ = [
    "IANA_PROTOCOLS_URL",
    "IANA_SERVICES_URL",
    "SHRINK_LIMIT",
    "Change",
    "RegistryDiff",
    "UpdateReport",
    "diff_candidates",
    "rollback",
    "update",
]
