"""The JSON Schema of catalog files, for editors (``anyport schema``).

Built from the same vocabularies the loader checks against, so the two cannot drift apart; a test validates
every shipped file against it.
"""

from __future__ import annotations

from typing import Any

from anyport.catalog.risktags import RISK_TAGS
from anyport.catalog.validate import DNSSD, SLUG
from anyport.vocab import ALLOCATIONS, CATEGORIES, DIRECTIONS, HELPERS, ROLES, STATUSES, TRANSPORTS

_PORT_ITEM = {
    "oneOf": [
        {"type": "integer", "minimum": 1, "maximum": 65535},
        {"type": "string", "pattern": r"^\s*\d{1,5}\s*(-\s*\d{1,5}\s*)?(,\s*\d{1,5}\s*(-\s*\d{1,5}\s*)?)*$"},
    ]
}
_TEXT = {"type": "string", "minLength": 1}


def json_schema() -> dict[str, Any]:
    """The schema as a dictionary (Draft 2020-12)."""
    ports = {"oneOf": [_PORT_ITEM, {"type": "array", "minItems": 1, "items": _PORT_ITEM}]}
    what = dict.fromkeys(TRANSPORTS, ports)
    spec_properties: dict[str, Any] = {
        **what,
        "ip": {"oneOf": [{"type": "integer", "minimum": 0, "maximum": 255}, {"type": "string"}]},
        "ref": {"type": "string", "pattern": SLUG.pattern},
        "role": {"enum": list(ROLES)},
        "direction": {"enum": list(DIRECTIONS)},
        "allocation": {"enum": list(ALLOCATIONS)},
        "base": {"type": "integer", "minimum": 1, "maximum": 65535},
        "optional": {"type": "boolean"},
        "uncertain": {"type": "boolean"},
        "helper": {"enum": list(HELPERS)},
        "multicast": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "dnssd": {"type": "string", "pattern": DNSSD.pattern},
        "pair": {
            "type": "object",
            "properties": {"ref": {"type": "string", "pattern": SLUG.pattern}, "offset": {"type": "integer"}},
            "required": ["ref", "offset"],
            "additionalProperties": False,
        },
        "tls": {"type": "boolean"},
        "note": _TEXT,
    }
    spec = {
        "type": "object",
        "properties": spec_properties,
        "additionalProperties": False,
        "oneOf": [{"required": [key]} for key in (*TRANSPORTS, "ip", "ref")],
    }
    source_keys = {
        "url": {"type": "string", "pattern": "^https?://"},
        "rfc": {"type": "integer", "minimum": 1},
        "kb": _TEXT,
        "seed": _TEXT,
        "iana": _TEXT,
    }
    source = {
        "type": "object",
        "properties": {**source_keys, "title": {"type": "string"}},
        "additionalProperties": False,
        "oneOf": [{"required": [key]} for key in source_keys],
    }
    # Unquoted numbers in lists (an alias like 47808) are read as text by the loader.
    text_list = {"type": "array", "items": {"oneOf": [_TEXT, {"type": "number"}]}}
    service = {
        "type": "object",
        "properties": {
            "id": {"type": "string", "pattern": SLUG.pattern},
            "title": {**_TEXT, "maxLength": 200},
            "aliases": text_list,
            "categories": {"type": "array", "minItems": 1, "items": {"enum": list(CATEGORIES)}},
            "status": {"enum": list(STATUSES)},
            "description": _TEXT,
            "ports": {"type": "array", "items": spec},
            "notes": text_list,
            "risks": text_list,
            "risk_tags": {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"enum": list(RISK_TAGS)}},
            "registered": text_list,
            "seed": text_list,
            "sources": {"type": "array", "minItems": 1, "items": source},
            "as_of": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
        },
        "required": ["id", "title", "categories", "description", "ports", "sources"],
        "additionalProperties": False,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://anyport.invalid/schema/catalog.json",
        "title": "anyport catalog file",
        "description": "Service definitions for anyport; see docs/catalog-format.md.",
        "type": "object",
        "properties": {"services": {"type": "array", "items": service}},
        "required": ["services"],
        "additionalProperties": False,
    }
