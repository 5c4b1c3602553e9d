"""What the API grew for the web UI, against the real app on a catalog of real photos from the eval
set: image items with size, ThumbHash and immutable thumbnail URLs, ETag revalidation, totals,
timeline/facets/positions and gap-reason listings that agree with the rows they count, unknown query
parameters refused, and browser sessions (HttpOnly cookie, CSRF on writes, rate-limited sign-in)."""

import os
import shutil

import pytest
from fastapi.testclient import TestClient

from lumina.api.app import create_app
from lumina.api.sessions import COOKIE
from lumina.catalog.db import open_catalog
from lumina.pipeline.scan import scan

TOKEN = "web-api-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FILES = ["originals/DSCN0010.jpg", "originals/DSCN0012.jpg", "originals/Canon EOS 7D.jpg", "originals/Apple iPhone 4.jpg",
         "resize/Panasonic NV-GX7_50.jpg", "bursts/IMG_4101.JPG", "format/Canon PowerShot G2 (1).png"]


@pytest.fixture(scope="module")
def client(eval_dev, tmp_path_factory, session_database):
    lib = tmp_path_factory.mktemp("lib")
    for rel in FILES:
        shutil.copy2(eval_dev / rel, lib / os.path.basename(rel))
    home = tmp_path_factory.mktemp("home")
    os.environ["LUMINA_SETTLE_S"] = "0"
    # a 1-megapixel decode limit: the largest photos fail their pixel stages with pixel_limit, a real gap
    cat = open_catalog(home, overrides={"max_image_pixels": 1_000_000}, database_url=session_database())
    scan(cat, [lib])
    cat.close()
    with TestClient(create_app(home, TOKEN, worker=False)) as c:
        yield c
    os.environ.pop("LUMINA_SETTLE_S", None)


def test_image_items_for_the_grid(client):
    page = client.get("/api/catalogs/default/images", params={"limit": 100}, headers=AUTH).json()
    assert page["total"] == len(FILES) == len(page["items"])
    failed = [i for i in page["items"] if i["thumbnail"]["error"]]
    assert 1 <= len(failed) < len(FILES)
    assert all("pixel_limit" in i["thumbnail"]["error"] and i["thumbnail_url"] is None for i in failed)
    by_filter = client.get("/api/catalogs/default/images", params={"failed_stage": "thumbnails"}, headers=AUTH).json()
    assert {i["asset_id"] for i in by_filter["items"]} == {i["asset_id"] for i in failed}
    for item in page["items"]:
        if item in failed:
            continue
        t = item["thumbnail"]
        assert (item["width"], item["height"]) == (t["width_px"], t["height_px"]) and max(item["width"], item["height"]) == 256
        assert item["thumbnail_url"] == f"/api/images/{item['asset_id']}/thumbnail?v={t['version']}"
        assert len(__import__("base64").b64decode(t["thumbhash"])) >= 5
    one = client.get("/api/catalogs/default/images", params={"limit": 2}, headers=AUTH).json()
    assert one["total"] == len(FILES) and len(one["items"]) == 2 and one["next_cursor"]
    two = client.get("/api/catalogs/default/images", params={"limit": 2, "cursor": one["next_cursor"]}, headers=AUTH).json()
    assert two["total"] is None and len(two["items"]) == 2  # counted once, with the first page


def test_thumbnails_cache_by_content(client):
    item = client.get("/api/catalogs/default/images", params={"camera": "COOLPIX", "limit": 1}, headers=AUTH).json()["items"][0]
    res = client.get(item["thumbnail_url"], headers=AUTH)
    assert res.status_code == 200 and res.headers["content-type"] == "image/webp"
    assert "immutable" in res.headers["cache-control"] and res.content[:4] == b"RIFF"
    etag = res.headers["etag"]
    assert etag.strip('"').startswith(item["asset_id"])  # the content-addressed file name
    again = client.get(item["thumbnail_url"], headers={**AUTH, "If-None-Match": etag})
    assert again.status_code == 304 and not again.content
    unversioned = client.get(f"/api/images/{item['asset_id']}/thumbnail", headers=AUTH)
    assert unversioned.headers["cache-control"] == "private, no-cache" and unversioned.headers["etag"] == etag
    stale = client.get(f"/api/images/{item['asset_id']}/thumbnail?v=00000000", headers=AUTH)
    assert "immutable" not in stale.headers["cache-control"]


def test_unknown_query_parameters_are_refused(client):
    res = client.get("/api/catalogs/default/images", params={"camra": "Nikon"}, headers=AUTH)
    assert res.status_code == 422 and "camra" in res.json()["error"]["message"]
    assert client.get("/api/catalogs/default/images", params={"camera": "Nikon"}, headers=AUTH).status_code == 200


def test_timeline_facets_positions_agree_with_the_list(client):
    items = client.get("/api/catalogs/default/images", params={"limit": 100}, headers=AUTH).json()["items"]
    months = client.get("/api/catalogs/default/timeline", headers=AUTH).json()["months"]
    assert sum(m["count"] for m in months) == sum(1 for i in items if i["capture_time"])
    for m in months:
        prefix = f"{m['year']:04d}-{m['month']:02d}"
        listed = client.get("/api/catalogs/default/images", params={"date_from": prefix, "date_to": prefix}, headers=AUTH)
        assert listed.json()["total"] == m["count"]
    facets = client.get("/api/catalogs/default/facets", headers=AUTH).json()
    assert sum(c["count"] for c in facets["file_types"]) == len(FILES)
    assert {"value": "png", "count": 1} in facets["file_types"]
    nikon = next(c for c in facets["cameras"] if c["model"] == "COOLPIX P6000")
    assert nikon["count"] == client.get("/api/catalogs/default/images", params={"camera": "COOLPIX P6000"}, headers=AUTH).json()["total"]
    positions = client.get("/api/catalogs/default/positions", headers=AUTH).json()
    with_gps = client.get("/api/catalogs/default/images", params={"has_gps": True, "limit": 100}, headers=AUTH).json()
    assert positions["total"] == with_gps["total"] == len(positions["items"]) > 0
    assert {p[0] for p in positions["items"]} == {i["asset_id"] for i in with_gps["items"]}
    assert all(-90 <= p[1] <= 90 and -180 <= p[2] <= 180 for p in positions["items"])


def test_gap_reasons_list_their_assets(client):
    rows = {r["type"]: r for r in client.get("/api/catalogs/default/gaps", headers=AUTH).json()["metadata"]}
    for reason, n in rows["thumbnails"]["reasons"].items():
        page = client.get("/api/catalogs/default/gaps/thumbnails/assets", params={"reason": reason}, headers=AUTH).json()
        assert page["total"] == n == len(page["items"])
    failed = client.get("/api/catalogs/default/images", params={"failed_stage": "thumbnails"}, headers=AUTH).json()
    assert rows["thumbnails"]["reasons"] == {"thumbnails failed: pixel_limit": failed["total"]} and failed["total"] >= 1
    res = client.get("/api/catalogs/default/gaps/thumbnails/assets", params={"reason": "no such reason"}, headers=AUTH)
    assert res.status_code == 404


def test_browser_session_cookie_and_csrf(client):
    page = client.get("/library", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/library"
    wrong = client.post("/login", data={"token": "nope", "next": "/"}, follow_redirects=False)
    assert wrong.status_code == 401 and "Wrong token" in wrong.text and COOKIE not in wrong.cookies
    evil = client.post("/login", data={"token": TOKEN, "next": "//evil.example/"}, follow_redirects=False)
    assert evil.status_code == 303 and evil.headers["location"] == "/"  # never sent to another site
    raw = evil.headers["set-cookie"].lower()
    assert "httponly" in raw and "samesite=strict" in raw
    html = client.get("/library").text  # signed in by the cookie
    csrf = html.split('name="csrf-token" content="')[1].split('"')[0]
    assert len(csrf) >= 32 and "Content-Security-Policy" in client.get("/library").headers
    aid = client.get("/api/catalogs/default/images", params={"limit": 1}).json()["items"][0]["asset_id"]
    refused = client.patch(f"/api/images/{aid}", json={"rating": 4})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf"
    done = client.patch(f"/api/images/{aid}", json={"rating": 4}, headers={"X-CSRF-Token": csrf})
    assert done.status_code == 200 and done.json()["image"]["rating"] == 4
    out = client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    client.cookies.clear()
    assert client.get("/api/catalogs").status_code == 401


def test_offline_tiles(client):
    tile = client.get("/tiles/0/0/0.png", headers=AUTH)
    assert tile.status_code == 200 and tile.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get("/tiles/7/0/0.png", headers=AUTH).status_code == 404  # the basemap stops at zoom 6
    assert client.get("/tiles/0/0/0.png").status_code == 401


def test_fill_every_gap_can_retry_failed_records(client):
    out = client.post("/api/catalogs/default/gaps/fill", params={"retry_failed": True}, headers=AUTH).json()
    queued = {j["type"]: j for j in out["jobs"]}
    assert {"thumbnails", "hashes", "quality"} <= set(queued)  # the stages whose records failed with pixel_limit
    assert all(j["params"]["retry_failed"] is True and j["status"] == "queued" for j in queued.values())
    again = client.post("/api/catalogs/default/gaps/fill", params={"retry_failed": True}, headers=AUTH).json()
    assert not again["jobs"] and {s["stage"] for s in again["skipped"]} >= {"thumbnails"}  # already queued: skipped
