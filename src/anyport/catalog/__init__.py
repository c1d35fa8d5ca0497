"""The one way in for catalog data: YAML files are read, validated and turned into :class:`Service` records."""

from anyport.catalog.loader import Catalog, load_catalog, validate_files

__all__ = ["Catalog", "load_catalog", "validate_files"]
