"""The REST API against the real app and a real SQLite catalog of real photos (eval set and corpus):
every endpoint, the error shape, auth, traversal attempts, a job followed over SSE, user overrides
on a read-only library (field case B27), and a property-based run against /openapi.json."""

import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumina.api.app import create_app, load_token
from lumina.catalog.db import open_catalog
from lumina.catalog.queries import SHOW_KEYS

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LIB_FILES = ["originals/Panasonic NV-GX7.jpg", "resize/Panasonic NV-GX7_50.jpg", "originals/Apple iPhone 4.jpg",
             "bursts/IMG_4101.JPG", "bursts/IMG_4102.JPG", "bursts/IMG_4103.JPG", "originals/Blackberry Z10.jpg"]


def assert_error(res, status: int, code: str | None = None):
    assert res.status_code == status, res.text
    body = res.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"} and body["error"]["message"]
    if code:
        assert body["error"]["code"] == code


def follow(client, job_id: str) -> list[dict]:
    """Read the job's server-sent events to the end; returns the progress payloads."""
    events, kind = [], None
    with client.stream("GET", f"/api/jobs/{job_id}/events", headers=AUTH) as res:
        assert res.status_code == 200 and res.headers["content-type"].startswith("text/event-stream")
        for line in res.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
                if kind == "end":
                    break
    assert events[-1][0] == "end"
    return [doc for _, doc in events]


@pytest.fixture(scope="module")
def library(eval_dev, tmp_path_factory):
    lib = tmp_path_factory.mktemp("library")
    for rel in LIB_FILES:
        shutil.copy2(eval_dev / rel, lib / os.path.basename(rel))
    shutil.copy2(eval_dev / LIB_FILES[2], lib / "copy of iPhone 4.jpg")  # an exact copy: one asset, two files
    outside = tmp_path_factory.mktemp("outside")
    shutil.copy2(eval_dev / "originals/Apple iPhone 5.jpg", outside / "secret.jpg")
    os.symlink(outside / "secret.jpg", lib / "link-to-outside.jpg")  # catalogued, but never served
    return lib


@pytest.fixture(scope="module")
def client(library, tmp_path_factory, corpus, session_database):
    """The API on a new home folder; on PostgreSQL the home catalog gets a database of its own (a
    module's catalog is made before any test's LUMINA_DATABASE_URL), and the catalog created over
    the API is SQLite in its folder, as documented for a POST without a database_url."""
    os.environ["LUMINA_SETTLE_S"] = "0"
    home = tmp_path_factory.mktemp("home")
    open_catalog(home, database_url=session_database()).close()  # remembered by the folder
    app = create_app(home, TOKEN, worker=True)
    with TestClient(app) as c:
        res = c.post("/api/catalogs", json={"name": "Family photos", "sources": [str(library)]}, headers=AUTH)
        assert res.status_code == 201, res.text
        assert res.json()["id"] == "family-photos" and res.json()["sources"] == [str(library)]
        job = c.post("/api/catalogs/family-photos/scan", headers=AUTH)
        assert job.status_code == 202 and job.json()["status"] == "queued"
        docs = follow(c, job.json()["id"])
        assert docs[-1]["status"] == "succeeded" and docs[-1]["done"] > 0
        assert all(b["done"] + b["failed"] >= a["done"] + a["failed"] for a, b in zip(docs, docs[1:]))
        yield c
    os.environ.pop("LUMINA_SETTLE_S", None)


def first_asset(client, **filters) -> dict:
    res = client.get("/api/catalogs/family-photos/images", params={"limit": 1, **filters}, headers=AUTH)
    assert res.status_code == 200
    return res.json()["items"][0]


def test_auth_and_health(client):
    assert client.get("/health").json()["status"] == "ok"
    assert_error(client.get("/api/catalogs"), 401, "unauthorized")
    assert_error(client.get("/api/catalogs", headers={"Authorization": "Bearer wrong"}), 401, "unauthorized")
    assert_error(client.get("/openapi.json"), 401)
    no_session = client.get("/docs", follow_redirects=False)  # a browser without a session: sign in first
    assert no_session.status_code == 303 and no_session.headers["location"] == "/login?next=/docs"
    assert client.get("/openapi.json", headers=AUTH).json()["info"]["title"] == "Lumina"
    docs = client.get("/docs", headers=AUTH)
    assert docs.status_code == 200 and "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs.text
    assert "http" not in docs.text.replace("http-equiv", "")  # nothing from another site: works offline
    assert_error(client.get("/api/catalogs", params={"bogus": 1}, headers=AUTH), 422, "invalid")


def test_generated_token_is_private(tmp_path, monkeypatch):
    monkeypatch.delenv("LUMINA_API_TOKEN", raising=False)
    token, created = load_token(tmp_path)
    assert created and len(token) >= 32 and stat.S_IMODE((tmp_path / "api-token").stat().st_mode) == 0o600
    assert load_token(tmp_path) == (token, False)


def test_catalogs(client, library):
    items = client.get("/api/catalogs", headers=AUTH).json()["items"]
    assert [c["id"] for c in items] == ["default", "family-photos"]
    assert all(set(c) == {"id", "name", "path", "database", "sources"} for c in items)
    assert client.get("/api/catalogs/family-photos", headers=AUTH).json()["name"] == "Family photos"
    assert_error(client.get("/api/catalogs/nope", headers=AUTH), 404, "not_found")
    assert_error(client.post("/api/catalogs", json={"name": "Family photos", "sources": []}, headers=AUTH), 409)
    assert_error(client.post("/api/catalogs", json={"name": "x", "sources": ["/no/such/folder"]}, headers=AUTH), 422)
    assert_error(client.post("/api/catalogs", json={"sources": []}, headers=AUTH), 422, "invalid")
    made = client.post("/api/catalogs", json={"name": "Scratch", "sources": [str(library)]}, headers=AUTH).json()
    assert client.delete("/api/catalogs/scratch", headers=AUTH).status_code == 204
    assert not os.path.exists(made["path"]) and len(os.listdir(library)) == len(LIB_FILES) + 2  # photos untouched
    assert_error(client.delete("/api/catalogs/default", headers=AUTH), 409, "conflict")


def test_gaps_and_fill(client):
    gaps = client.get("/api/catalogs/family-photos/gaps", headers=AUTH).json()
    assert gaps["total_assets"] == len(LIB_FILES) + 1 and [s["stage"] for s in gaps["job_order"]][0] == "metadata"
    fill = client.post("/api/catalogs/family-photos/gaps/fill", headers=AUTH).json()
    assert fill == {"jobs": [], "skipped": []}  # the scan filled every available gap


def test_images_filters_and_paging(client, library):
    url = "/api/catalogs/family-photos/images"
    everything = client.get(url, params={"limit": 500}, headers=AUTH).json()["items"]
    assert len(everything) == len(LIB_FILES) + 1  # the exact copy is no new asset; the linked file is one
    seen, cursor = [], None
    while True:
        page = client.get(url, params={"limit": 3, **({"cursor": cursor} if cursor else {})}, headers=AUTH).json()
        seen += [i["asset_id"] for i in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == [i["asset_id"] for i in everything]
    apple = client.get(url, params={"camera": "apple"}, headers=AUTH).json()["items"]
    assert apple and all("apple" in (i["camera_make"] or "").lower() for i in apple)
    dated = client.get(url, params={"date_from": "2023-05-20", "date_to": "2023-05-20"}, headers=AUTH).json()["items"]
    assert {os.path.basename(i["paths"][0]) for i in dated} == {"IMG_4101.JPG", "IMG_4102.JPG", "IMG_4103.JPG"}
    gps = client.get(url, params={"has_gps": True}, headers=AUTH).json()["items"]
    assert gps and all(i["geohash"] for i in gps)
    prefix = gps[0]["geohash"][:3]
    assert all(i["geohash"].startswith(prefix) for i in
               client.get(url, params={"geohash": prefix}, headers=AUTH).json()["items"])
    assert client.get(url, params={"file_type": "png"}, headers=AUTH).json()["items"] == []
    assert_error(client.get(url, params={"limit": 0}, headers=AUTH), 422, "invalid")
    assert_error(client.get(url, params={"limit": 501}, headers=AUTH), 422)
    assert_error(client.get(url, params={"cursor": "not-a-cursor"}, headers=AUTH), 422)


def test_image_detail_thumbnails_and_original(client, library):
    item = first_asset(client, camera="apple")
    doc = client.get(f"/api/images/{item['asset_id']}", headers=AUTH).json()
    assert set(SHOW_KEYS) <= set(doc) and doc["catalog_id"] == "family-photos"
    grid = client.get(f"/api/images/{item['asset_id']}/thumbnail", headers=AUTH)
    assert grid.status_code == 200 and grid.headers["content-type"] == "image/webp" and grid.content[:4] == b"RIFF"
    preview = client.get(f"/api/images/{item['asset_id']}/thumbnail?size=preview", headers=AUTH)
    assert preview.headers["content-type"] == "image/jpeg" and preview.content[:2] == b"\xff\xd8"
    original = client.get(f"/api/images/{item['asset_id']}/original", headers=AUTH)
    assert original.content == Path(item["paths"][0]).read_bytes()
    assert_error(client.get(f"/api/images/{item['asset_id']}/thumbnail?size=huge", headers=AUTH), 422)
    assert_error(client.get("/api/images/" + "0" * 64, headers=AUTH), 404, "not_found")


@pytest.mark.parametrize("attempt", ["..%2F..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "..", "%2e%2e%2f%2e%2e",
                                     "....//....//etc", "abc%00def", "ZZZZZZZZ"])
def test_traversal_attempts_on_file_endpoints(client, attempt):
    for suffix in ("/original", "/thumbnail", "/thumbnail?size=preview", ""):
        res = client.get(f"/api/images/{attempt}{suffix}", headers=AUTH)
        assert res.status_code in (404, 422), (attempt, suffix, res.status_code)
        assert "root:" not in res.text


def test_a_symlink_out_of_the_library_is_never_served(client, library):
    items = client.get("/api/catalogs/family-photos/images", params={"limit": 500}, headers=AUTH).json()["items"]
    linked = [i for i in items if any(p.endswith("link-to-outside.jpg") for p in i["paths"])]
    for item in linked:
        assert_error(client.get(f"/api/images/{item['asset_id']}/original", headers=AUTH), 404)


def test_jobs_over_http(client):
    started = client.post("/api/jobs/pipeline", json={"catalog_id": "family-photos"}, headers=AUTH)
    assert started.status_code == 202 and started.json()["id"].startswith("family-photos-")
    final = follow(client, started.json()["id"])[-1]
    assert final["status"] == "succeeded" and final["total"] == 0  # nothing left to do
    alias = client.post("/api/jobs/detect-bursts", json={"catalog_id": "family-photos", "force": True}, headers=AUTH)
    assert alias.json()["type"] == "bursts" and follow(client, alias.json()["id"])[-1]["status"] == "succeeded"
    dup = client.post("/api/jobs/detect-duplicates", json={"catalog_id": "family-photos", "similarity_threshold": 8},
                      headers=AUTH).json()
    assert dup["params"]["settings"] == {"duplicate_radius_bits": 8}
    assert follow(client, dup["id"])[-1]["status"] == "succeeded"
    listed = client.get("/api/jobs", params={"status": "succeeded", "limit": 2}, headers=AUTH).json()
    assert len(listed["items"]) == 2 and listed["total"] >= 4
    assert all(j["status"] == "succeeded" for j in listed["items"])
    assert client.get(f"/api/jobs/{dup['id']}", headers=AUTH).json()["stages"]["duplicates"]["ok"] == 1
    assert_error(client.post("/api/jobs/no-such-type", json={}, headers=AUTH), 404)
    assert_error(client.post("/api/jobs/pipeline", json={"catalog_id": "nope"}, headers=AUTH), 404)
    assert_error(client.post("/api/jobs/pipeline", json={"similarity_threshold": 3}, headers=AUTH), 422)
    assert_error(client.post("/api/jobs/detect-duplicates", json={"similarity_threshold": 99}, headers=AUTH), 422)
    assert_error(client.get("/api/jobs/family-photos-99999", headers=AUTH), 404)
    assert_error(client.get("/api/jobs/../../etc", headers=AUTH), 404)
    assert_error(client.get("/api/jobs", params={"status": "bogus"}, headers=AUTH), 422)


def test_conflict_and_cancel_without_a_worker(tmp_path, library):
    app = create_app(tmp_path / "home", TOKEN, worker=False)
    with TestClient(app) as c:
        c.post("/api/catalogs", json={"name": "q", "sources": [str(library)]}, headers=AUTH)
        first = c.post("/api/jobs/pipeline", json={"catalog_id": "q"}, headers=AUTH).json()
        assert_error(c.post("/api/jobs/pipeline", json={"catalog_id": "q"}, headers=AUTH), 409, "conflict")
        cancelled = c.delete(f"/api/jobs/{first['id']}", headers=AUTH).json()
        assert cancelled["status"] == "cancelled"
        assert_error(c.delete(f"/api/jobs/{first['id']}", headers=AUTH), 409)
        assert_error(c.post("/api/jobs/pipeline", content=b"x" * (2 << 20),
                            headers={**AUTH, "content-type": "application/json"}), 413, "too_large")


def test_duplicates_over_http(client):
    doc = client.get("/api/catalogs/family-photos/duplicates", headers=AUTH).json()
    assert doc["generation"] is not None
    exact = next(g for g in doc["groups"] if g["class"] == "exact")
    same = next(g for g in doc["groups"] if g["class"] == "same_image")
    detail = client.get(f"/api/catalogs/family-photos/duplicates/{same['id']}", headers=AUTH).json()
    assert detail["keeper"]["reason"] and any(m["distances"].get("phash") is not None for m in detail["members"])
    assert_error(client.get("/api/catalogs/family-photos/duplicates/999999", headers=AUTH), 404)
    other = next(m["asset_id"] for m in same["members"] if m["asset_id"] != same["keeper"]["asset_id"])
    res = client.post(f"/api/catalogs/family-photos/duplicates/{same['id']}/resolve",
                      json={"keep": same["keeper"]["asset_id"]}, headers=AUTH).json()
    assert res["kept"] == same["keeper"]["asset_id"]
    assert client.get(f"/api/images/{other}", headers=AUTH).json()["status"] == "rejected"
    assert os.path.exists(client.get(f"/api/images/{other}", headers=AUTH).json()["paths"][0])  # file untouched
    assert_error(client.post(f"/api/catalogs/family-photos/duplicates/{same['id']}/resolve",
                             json={"keep": "f" * 64}, headers=AUTH), 422)
    pair = {"asset_a": same["keeper"]["asset_id"], "asset_b": other}
    assert client.post("/api/catalogs/family-photos/duplicates/not-duplicates", json=pair,
                       headers=AUTH).json()["recorded"] == "not_duplicate"
    assert exact["keeper"]["paths"]
    assert_error(client.post("/api/catalogs/family-photos/duplicates/not-duplicates",
                             json={"asset_a": "xyz", "asset_b": other}, headers=AUTH), 422)
    # ids are stable across the re-run that the verdict caused: the exact group keeps its id, the
    # resolved one is gone and says where its members went
    assert client.get(f"/api/catalogs/family-photos/duplicates/{exact['id']}", headers=AUTH).json()["id"] == exact["id"]
    gone = client.get(f"/api/catalogs/family-photos/duplicates/{same['id']}", headers=AUTH)
    assert gone.status_code == 404 and "no longer exists" in gone.json()["error"]["message"]


def test_bursts_over_http(client):
    doc = client.get("/api/catalogs/family-photos/bursts", headers=AUTH).json()
    (burst,) = doc["bursts"]
    assert [os.path.basename(f["paths"][0]) for f in burst["frames"]] == ["IMG_4101.JPG", "IMG_4102.JPG", "IMG_4103.JPG"]
    assert client.get(f"/api/catalogs/family-photos/bursts/{burst['id']}", headers=AUTH).json()["best"]["reason"]
    assert_error(client.get("/api/catalogs/family-photos/bursts/999999", headers=AUTH), 404)
    keep = burst["frames"][0]["asset_id"]
    applied = client.post(f"/api/catalogs/family-photos/bursts/{burst['id']}/apply", json={"keep": keep},
                          headers=AUTH).json()
    assert applied["applied"][0]["kept"] == keep and len(applied["applied"][0]["rejected"]) == 2
    again = client.post("/api/catalogs/family-photos/bursts/apply-recommended", headers=AUTH).json()
    assert again["applied"][0]["kept"] == keep  # the user's choice is the recommendation now


def test_overrides_on_a_read_only_library_are_catalog_only(client, library):
    """Field case B27, manual items: the edit is stored in the catalog and says so; never into files."""
    item = first_asset(client, camera="blackberry")
    before = {p: (os.stat(p).st_mtime_ns, Path(p).read_bytes()) for p in item["paths"]}
    os.chmod(library, 0o555)
    try:
        res = client.patch(f"/api/images/{item['asset_id']}",
                           json={"capture_time": "2019-08-17T09:30:00", "keywords": ["harbour"], "rating": 4},
                           headers=AUTH)
        assert res.status_code == 200, res.text
        body = res.json()
        assert body["stored_in"] == "catalog" and body["written_to_file"] is False and body["written_to_sidecar"] is False
        assert body["image"]["capture_time"] == "2019-08-17T09:30:00" and body["image"]["capture_time_source"] == "user"
        assert body["image"]["keywords"] == ["harbour"] and body["image"]["rating"] == 4
        refused = client.patch(f"/api/images/{item['asset_id']}", json={"write_to_file": True, "rating": 1},
                               headers=AUTH)
        assert_error(refused, 409)
        # survives a rescan with forced metadata re-extraction
        job = client.post("/api/jobs/metadata", json={"catalog_id": "family-photos", "force": True}, headers=AUTH)
        assert follow(client, job.json()["id"])[-1]["status"] == "succeeded"
        after = client.get(f"/api/images/{item['asset_id']}", headers=AUTH).json()
        assert after["capture_time"] == "2019-08-17T09:30:00" and after["capture_time_source"] == "user"
        assert after["rating"] == 4  # the user's value, not the file's
    finally:
        os.chmod(library, 0o755)
    assert {p: (os.stat(p).st_mtime_ns, Path(p).read_bytes()) for p in item["paths"]} == before
    assert_error(client.patch(f"/api/images/{item['asset_id']}", json={"rating": 9}, headers=AUTH), 422)
    assert_error(client.patch(f"/api/images/{item['asset_id']}", json={"capture_time": "yesterday"}, headers=AUTH), 422)


path_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property_based_run_against_openapi(client, data):
    """Every GET operation of /openapi.json with generated path and query values: never a 500, and
    every error has the one shape."""
    spec = client.get("/openapi.json", headers=AUTH).json()
    path, op = data.draw(st.sampled_from(sorted((p, o) for p, ops in spec["paths"].items() for m, o in ops.items()
                                                if m == "get" and not p.endswith("/events"))))
    url = path
    for param in op.get("parameters", []):
        if param["in"] == "path":
            value = data.draw(st.one_of(st.just("family-photos"), path_text, st.integers(-5, 10**6).map(str)))
            url = url.replace("{" + param["name"] + "}", __import__("urllib.parse").parse.quote(value, safe=""))
    query = {p["name"]: data.draw(st.one_of(path_text, st.integers(-10, 1000).map(str), st.sampled_from(["true", "x"])))
             for p in op.get("parameters", []) if p["in"] == "query" and data.draw(st.booleans())}
    res = client.get(url, params=query, headers=AUTH)
    assert res.status_code < 500, (url, query, res.text)
    if res.status_code >= 400:
        assert set(res.json()) == {"error"} and set(res.json()["error"]) == {"code", "message"}


def test_hostile_requests_get_clean_errors(client, tmp_path):
    """Defects found by trying to break the API: each answer is the error shape, never a 500."""
    big = (b'{"name": "' + b"x" * (2 << 20) + b'"}')

    def chunks():
        for k in range(0, len(big), 65536):
            yield big[k:k + 65536]

    assert_error(client.post("/api/catalogs", content=chunks(), headers={**AUTH, "content-type": "application/json"}),
                 413, "too_large")
    url = "/api/catalogs/family-photos/images"
    crafted = __import__("base64").urlsafe_b64encode(b"[true, 5, {}]").decode()
    assert_error(client.get(url, params={"cursor": crafted}, headers=AUTH), 422)
    assert_error(client.get(url, params={"date_from": "2020-13-45"}, headers=AUTH), 422)
    assert_error(client.get(url, params={"date_to": "notadate"}, headers=AUTH), 422)
    assert client.get(url, params={"camera": "%_"}, headers=AUTH).json()["items"] == []  # literal, not a wildcard
    assert client.get(url, params={"keyword": "%"}, headers=AUTH).json()["items"] == []
    huge = "99999999999999999999"
    assert_error(client.get(f"/api/catalogs/family-photos/bursts/{huge}", headers=AUTH), 404)
    assert_error(client.post(f"/api/catalogs/family-photos/bursts/{huge}/apply", json={"keep": "x"}, headers=AUTH), 404)
    assert_error(client.post(f"/api/catalogs/family-photos/duplicates/{huge}/resolve", json={"keep": "x"},
                             headers=AUTH), 404)
    assert_error(client.get(f"/api/jobs/family-photos-{huge[:12]}", headers=AUTH), 404)
    burst = client.get("/api/catalogs/family-photos/bursts", headers=AUTH).json()["bursts"][0]
    for keep in ("", "9", "IMG"):
        assert_error(client.post(f"/api/catalogs/family-photos/bursts/{burst['id']}/apply", json={"keep": keep},
                                 headers=AUTH), 422)
    assert_error(client.get("/api/jobs/family-photos-1%0a", headers=AUTH), 404)
    assert_error(client.get("/api/images/deadbeef%0a/original", headers=AUTH), 404)
    assert_error(client.post("/api/catalogs", content=b"[" * 100000, headers={**AUTH, "content-type": "application/json"}),
                 422)
    assert_error(client.post("/api/catalogs", json={"name": "nul\u0000name", "sources": []}, headers=AUTH), 422)
    home = client.get("/api/catalogs/default", headers=AUTH).json()["path"]
    for source in (home, os.path.dirname(home), "/"):
        assert_error(client.post("/api/catalogs", json={"name": "greedy", "sources": [source]}, headers=AUTH), 422)
    a = client.post("/api/catalogs", json={"name": "日本語", "sources": []}, headers=AUTH).json()
    b = client.post("/api/catalogs", json={"name": "中文", "sources": []}, headers=AUTH).json()
    assert a["id"] != b["id"] and a["id"].startswith("catalog-")
    for cid in (a["id"], b["id"]):
        assert client.delete(f"/api/catalogs/{cid}", headers=AUTH).status_code == 204
