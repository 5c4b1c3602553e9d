"""Catalog-wide analysis: the gap report, duplicates and bursts.

``lumina.stages`` is imported first: the catalog-wide stage declarations (``lumina.stages.catalog``)
read these modules' rule versions, and ``duplicates`` reads ``lumina.stages.hashes``; entered from
here first, that cycle would meet a half-imported module (``import lumina`` no longer imports
everything up front, see ``lumina/__init__.py``).
"""

import lumina.stages  # noqa: F401 - import order, see above
