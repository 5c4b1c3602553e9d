"""Catalog-wide analysis: the gap report (duplicates and bursts to come)."""
