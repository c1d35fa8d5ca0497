"""The one way in for catalog data: YAML files are read, validated and turned into Service records.

Import from :mod:`anyport.catalog.loader`; this package module stays empty so that finding the catalog's files
(:mod:`anyport.catalog.paths`) does not load the YAML machinery.
"""
