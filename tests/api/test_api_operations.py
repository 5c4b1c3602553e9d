"""The REST API under concurrent clients and with file names that are not UTF-8 (#13)."""

import os
import shutil
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from lumina.api.app import create_app
from lumina.catalog.db import open_catalog
from lumina.pipeline.scan import scan

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_original_of_a_file_whose_name_is_not_utf8(corpus, tmp_path, settle_now):
    lib = tmp_path / "lib"
    lib.mkdir()
    name = b"caf\xe9 \"1\".jpg"  # Latin-1 bytes, as an old Windows share or a zip archive leaves them
    shutil.copy2(corpus / "exif-samples/jpg/Canon_40D.jpg", os.path.join(os.fsencode(lib), name))
    with TestClient(create_app(tmp_path / "home", TOKEN, worker=False)) as client:
        made = client.post("/api/catalogs", json={"name": "Old share", "sources": [str(lib)]}, headers=AUTH)
        assert made.status_code == 201, made.text
        cat = open_catalog(made.json()["path"])
        scan(cat, [lib], run_stages=False)
        cat.close()
        item, = client.get("/api/catalogs/old-share/images", headers=AUTH).json()["items"]
        doc = client.get(f"/api/images/{item['asset_id']}", headers=AUTH)
        assert doc.status_code == 200 and b"caf\\udce9" in doc.content  # the byte kept as a surrogate escape
        assert os.fsencode(doc.json()["paths"][0]) == os.path.join(os.fsencode(lib), name)
        res = client.get(f"/api/images/{item['asset_id']}/original", headers=AUTH)
        assert res.status_code == 200 and res.content == (corpus / "exif-samples/jpg/Canon_40D.jpg").read_bytes()
        assert res.headers["content-disposition"] == \
            "attachment; filename=\"caf_ _1_.jpg\"; filename*=UTF-8''caf%EF%BF%BD%20%221%22.jpg"


def test_concurrent_catalog_creation(corpus, tmp_path):
    """16 clients at once: 8 ask for the same name (one 201, seven clean 409s), 8 for different names
    (all 201); every created catalog is listed and opens, no other folder is left."""
    home = tmp_path / "home"
    with TestClient(create_app(home, TOKEN, worker=False)) as client:
        def post(name: str):
            return client.post("/api/catalogs", json={"name": name, "sources": [str(corpus)]}, headers=AUTH)

        with ThreadPoolExecutor(16) as pool:
            same = list(pool.map(post, ["Trip"] * 8))
            other = list(pool.map(post, [f"Album {i}" for i in range(8)]))
        assert sorted(r.status_code for r in same) == [201] + [409] * 7
        assert all(r.json()["error"]["code"] == "conflict" for r in same if r.status_code == 409)
        assert [r.status_code for r in other] == [201] * 8
        listed = {c["id"] for c in client.get("/api/catalogs", headers=AUTH).json()["items"]}
        assert listed == {"default", "trip", *(f"album-{i}" for i in range(8))}
        assert sorted(os.listdir(home / "catalogs")) == sorted(listed - {"default"})
        for cid in listed - {"default"}:
            assert client.get(f"/api/catalogs/{cid}/gaps", headers=AUTH).status_code == 200
