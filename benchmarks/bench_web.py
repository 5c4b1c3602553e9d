"""The web UI and its API on a synthetic 100k-asset catalog, through a real ``lumina serve``.

The catalog: n assets with a present file, a capture time spread over 20 years, one of 12 cameras, a
position for a third of them, and a grid thumbnail each. The thumbnail files are hard links to a
real 256 px WebP thumbnail (made from ../shared/eval/dev/originals/DSCN0010.jpg by the thumbnails
stage), at each asset's content-addressed path, so the server does the work it does for a real
library while the disk holds one file.

Printed (medians over the repeats):
  * time to the grid's first thumbnails: chromium (Playwright) opens /library signed in, until 12
    thumbnails have loaded;
  * the grid's first page of 200 items (GET /api/catalogs/default/images?limit=200) and a page deep in
    the timeline (cursor after 50 pages, fewer for a small catalog);
  * scrolling: 40 times to the end of what is loaded (each loads and lays out the next 200 items):
    time per page, the layout's own time for the first and the 41st page, and how many tiles the page
    holds at the end (virtual scrolling keeps only those near the viewport);
  * thumbnail endpoint latency p50/p95 over random assets, against the same server's static file
    serving of a file of like size (the peer: Starlette's StaticFiles in the same process).

    python benchmarks/bench_web.py [--assets 100000] [--requests 2000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TOKEN = "bench-web-token-0123456789"
CAMERAS = [("Apple", "iPhone 12"), ("Canon", "EOS 7D"), ("Nikon", "D750"), ("Sony", "ILCE-7M3"), ("Fujifilm", "X-T3"),
           ("Google", "Pixel 6"), ("Samsung", "SM-G991B"), ("Olympus", "E-M10"), ("Panasonic", "DMC-GX80"),
           ("Ricoh", "GR III"), ("Leica", "Q2"), ("OnePlus", "KB2003")]


def real_thumbnail(tmp: Path) -> tuple[Path, int, int, bytes]:
    """A real grid thumbnail (WebP), its size and ThumbHash, from the thumbnails stage."""
    from lumina.catalog.db import open_catalog
    from lumina.catalog.models import Thumbnail
    from lumina.pipeline.scan import scan

    lib = tmp / "one"
    lib.mkdir()
    shutil.copy2(ROOT.parent / "shared" / "eval" / "dev" / "originals" / "DSCN0010.jpg", lib / "a.jpg")
    os.environ["LUMINA_SETTLE_S"] = "0"
    cat = open_catalog(tmp / "one-cat")
    scan(cat, [lib])
    with cat.session() as s:
        t = s.query(Thumbnail).one()
        out = (cat.path / t.grid_path, t.grid_width, t.grid_height, t.thumbhash)
    cat.close()
    return out


def build(home: Path, n: int) -> None:
    from sqlalchemy import insert

    from lumina.catalog.db import open_catalog
    from lumina.catalog.models import Asset, CaptureDate, FileInstance, Metadata, Place, Source, Thumbnail
    from lumina.pipeline.scan import now
    from lumina.stages.dates import capture_period

    src, width, height, thumbhash = real_thumbnail(home.parent)
    rng = random.Random(19)
    cat = open_catalog(home)
    start = datetime(2004, 1, 1)
    ids = [f"{k:064x}" for k in range(n)]
    t0 = time.perf_counter()
    with cat.engine.begin() as conn:
        conn.execute(insert(Source), [{"id": 1, "path_bytes": b"/lib", "path": "/lib", "added_at": now()}])
        conn.execute(insert(Asset), [{"asset_id": a, "size_bytes": 3_000_000, "media_kind": "photo", "file_type": "jpeg",
                                      "detected_by": "extension", "status": "active", "first_seen_at": now()} for a in ids])
        conn.execute(insert(FileInstance), [{"source_id": 1, "path_bytes": f"/lib/{k}.jpg".encode(), "path": f"/lib/{k}.jpg",
                                             "asset_id": a, "status": "present", "first_seen_at": now(), "warnings": []}
                                            for k, a in enumerate(ids)])
        stamps = [(start + timedelta(seconds=rng.randrange(20 * 365 * 86400))).isoformat() for _ in ids]
        conn.execute(insert(CaptureDate), [{"asset_id": a, "capture_time": t, "capture_time_source": "EXIF:DateTimeOriginal",
                                            "capture_time_confidence": 90, "flags": [], "candidates": [],
                                            **dict(zip(("capture_start_local", "capture_end_local"), capture_period(t, [])))}
                                           for a, t in zip(ids, stamps)])
        conn.execute(insert(Metadata), [{"asset_id": a, "camera_make": CAMERAS[k % 12][0], "camera_model": CAMERAS[k % 12][1],
                                         "width": 4000, "height": 3000, "keywords": [], "flags": [], "tags": {}}
                                        for k, a in enumerate(ids)])
        conn.execute(insert(Place), [{"asset_id": a, "gps_latitude": rng.uniform(-60, 70), "gps_longitude": rng.uniform(-180, 180),
                                      "flags": []} for a in ids[::3]])
        rows = []
        for a in ids:
            rel = f"thumbnails/{a[:2]}/{a}-bench000-grid.webp"
            rows.append({"asset_id": a, "grid_path": rel, "grid_width": width, "grid_height": height, "grid_bytes": 1,
                         "preview_path": rel, "preview_width": width, "preview_height": height, "preview_bytes": 1,
                         "thumbhash": thumbhash})
        conn.execute(insert(Thumbnail), rows)
    copies = []  # a file takes at most 65000 hard links on ext4: one copy per 50k assets
    for k, a in enumerate(ids):
        if k % 50_000 == 0:
            copies.append(home / f"thumb-source-{len(copies)}.webp")
            shutil.copy2(src, copies[-1])
        target = home / "thumbnails" / a[:2] / f"{a}-bench000-grid.webp"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(copies[-1], target)
    shutil.copy2(src, ROOT / "lumina" / "web" / "static" / ".bench-peer.webp")
    cat.close()
    print(f"built a {n}-asset catalog in {time.perf_counter() - t0:.1f} s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed_get(conn: http.client.HTTPConnection, path: str) -> float:
    t0 = time.perf_counter()
    conn.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
    res = conn.getresponse()
    body = res.read()
    assert res.status == 200, (path, res.status, body[:200])
    return time.perf_counter() - t0


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--assets", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "cat"
        build(home, args.assets)
        port = free_port()
        env = {**os.environ, "LUMINA_API_TOKEN": TOKEN}
        proc = subprocess.Popen([str(Path(sys.executable).parent / "lumina"), "serve", "--catalog", str(home), "--port", str(port),
                                 "--no-worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            for _ in range(300):
                try:
                    timed_get(conn, "/health")
                    break
                except (ConnectionError, OSError):
                    time.sleep(0.1)
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            results = run(conn, port, args)
        finally:
            proc.terminate()
            proc.wait(30)
            (ROOT / "lumina" / "web" / "static" / ".bench-peer.webp").unlink(missing_ok=True)
    print(json.dumps(results, indent=1))


def run(conn: http.client.HTTPConnection, port: int, args) -> dict:
    first_page = [timed_get(conn, "/api/catalogs/default/images?limit=200") for _ in range(args.repeats)]
    cursor, deep_pages = None, max(1, min(50, args.assets // 200 - 2))
    for _ in range(deep_pages):
        conn.request("GET", "/api/catalogs/default/images?limit=200" + (f"&cursor={cursor}" if cursor else ""),
                     headers={"Authorization": f"Bearer {TOKEN}"})
        cursor = json.loads(conn.getresponse().read())["next_cursor"]
    deep = [timed_get(conn, f"/api/catalogs/default/images?limit=200&cursor={cursor}") for _ in range(args.repeats)]
    rng = random.Random(5)
    ids = [f"{rng.randrange(args.assets):064x}" for _ in range(args.requests)]
    timed_get(conn, f"/api/images/{ids[0]}/thumbnail?v=bench000")
    thumbs = [timed_get(conn, f"/api/images/{a}/thumbnail?v=bench000") for a in ids]
    static = [timed_get(conn, "/static/.bench-peer.webp") for _ in range(args.requests)]
    grid, scroll, tiles = browser_first_thumbnails(port, args.repeats)
    ms = lambda v: round(v * 1000, 1)  # noqa: E731
    return {
        "assets": args.assets,
        "grid_first_12_thumbnails_ms": {"median": ms(statistics.median(grid)), "runs": [ms(v) for v in grid]},
        "scroll_next_page_ms": {"median": ms(statistics.median(t for t, _ in scroll)),
                                "last": ms(scroll[-1][0]), "pages": len(scroll)},
        "layout_per_page_ms": {"first": scroll[0][1], "last_at_8000_items": scroll[-1][1]},
        "tiles_in_dom_after_scrolling": tiles,
        "images_first_page_200_ms": ms(statistics.median(first_page)),
        f"images_page_{deep_pages + 1}_200_ms": ms(statistics.median(deep)),
        "thumbnail_ms": {"p50": ms(pct(thumbs, 0.5)), "p95": ms(pct(thumbs, 0.95)), "n": len(thumbs)},
        "peer_static_file_ms": {"p50": ms(pct(static, 0.5)), "p95": ms(pct(static, 0.95)), "n": len(static)},
        "thumbnail_over_static_p50": round(pct(thumbs, 0.5) / pct(static, 0.5), 2),
    }


def browser_first_thumbnails(port: int, repeats: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    base = f"http://127.0.0.1:{port}"
    out = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.goto(base + "/login")
        page.fill("input[name=token]", TOKEN)
        page.click("button[type=submit]")
        page.wait_for_url(base + "/")
        for _ in range(repeats):
            page.goto("about:blank")
            t0 = time.perf_counter()
            page.goto(base + "/library")
            while page.evaluate("[...document.querySelectorAll('.tile img')].filter(i => i.complete && i.naturalWidth).length") < 12:
                time.sleep(0.005)
            out.append(time.perf_counter() - t0)
        scroll = []  # then scroll to the end of what is loaded, 40 times: each loads and lays out one page
        for _ in range(40):
            loaded = int(page.evaluate("document.getElementById('grid').dataset.loaded"))
            t0 = time.perf_counter()
            page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
            while int(page.evaluate("document.getElementById('grid').dataset.loaded")) == loaded:
                time.sleep(0.005)
            scroll.append((time.perf_counter() - t0, float(page.evaluate("document.getElementById('grid').dataset.layoutMs"))))
        tiles = page.evaluate("document.querySelectorAll('.tile').length")
        browser.close()
    return out, scroll, tiles


if __name__ == "__main__":
    main()
