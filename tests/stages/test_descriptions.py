"""The descriptions stage: captions from a loopback server speaking the real Ollama protocol
(``POST /api/generate`` with base64 images), template sentences without one, and an endpoint that
is down, slow or answers garbage costing only this stage."""

import base64
import io
import json
import shutil
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image
from sqlalchemy import select

from lumina.catalog.db import open_catalog
from lumina.catalog.models import Description, StageRecord, Thumbnail
from lumina.pipeline.scan import scan

PHOTOS = {"dog.jpg": "originals/kodak-dc240.jpg", "daisy.jpg": "originals/Nikon Coolpix 775.jpg"}


class Ollama(BaseHTTPRequestHandler):
    """``/api/generate`` as Ollama answers it with ``"stream": false``; the caption names the size of
    the image it was sent, so each asset's caption proves its own image arrived."""

    mode = "ok"
    requests: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        if self.path != "/api/generate":
            self.send_error(404)
            return
        if self.mode == "slow":
            time.sleep(2.0)
        if self.mode == "garbage":
            payload = b"<html>502 Bad Gateway</html>"
        else:
            image = Image.open(io.BytesIO(base64.b64decode(body["images"][0])))
            payload = json.dumps({"model": body["model"], "created_at": "2026-12-01T09:00:00Z", "done": True,
                                  "response": f"A {image.format} photo of {image.width}x{image.height} pixels.\n"
                                              "It shows more."}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Ollama)
    Ollama.requests, Ollama.mode = [], "ok"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def library(eval_dev, tmp_path, settle_now):
    lib = tmp_path / "lib"
    lib.mkdir()
    for name, rel in PHOTOS.items():
        shutil.copy2(eval_dev / rel, lib / name)
    return lib


def run(tmp_path, library, **settings):
    cat = open_catalog(tmp_path / "cat", overrides={"workers": 1, **settings})
    scan(cat, [library])
    with cat.session() as s:
        descs = {d.asset_id: d for d in s.scalars(select(Description))}
        records = {(r.asset_id, r.stage): r for r in s.scalars(select(StageRecord))}
        previews = {t.asset_id: (t.preview_width, t.preview_height) for t in s.scalars(select(Thumbnail))}
    cat.close()
    run.previews = previews
    return descs, records


def test_captions_come_from_the_endpoint(server, library, tmp_path):
    descs, records = run(tmp_path, library, description_endpoint=server, description_model="llava:7b")
    assert len(Ollama.requests) == 2
    assert all(r["model"] == "llava:7b" and r["stream"] is False and r["prompt"] for r in Ollama.requests)
    # each asset's preview thumbnail (JPEG) was sent; the caption is the answer's first line
    assert {a: d.text for a, d in descs.items()} == {
        a: f"A JPEG photo of {w}x{h} pixels." for a, (w, h) in run.previews.items()}
    assert {(d.source, d.model_id) for d in descs.values()} == {("model", "ollama:llava:7b")}
    assert all(d.text_vector and d.text_dim == 384 for d in descs.values())
    assert all(r.status == "ok" for r in records.values())


@pytest.mark.parametrize("mode", ["garbage", "slow", "down"])
def test_a_failing_endpoint_costs_only_the_description_stage(server, library, tmp_path, mode):
    endpoint = server
    if mode == "down":
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            endpoint = f"http://127.0.0.1:{s.getsockname()[1]}"
    Ollama.mode = mode
    descs, records = run(tmp_path, library, description_endpoint=endpoint, description_timeout_s=0.5,
                         description_retries=1)
    failed = [r for (a, st), r in records.items() if st == "descriptions"]
    assert len(failed) == 2 and all(r.status == "failed" and r.error.startswith("endpoint_error:") for r in failed)
    assert all(r.status == "ok" for (a, st), r in records.items() if st != "descriptions")
    assert {d.source for d in descs.values()} == {"template"}  # the asset still reads as a sentence
    if mode != "down":
        assert len(Ollama.requests) == 4  # one retry each


def test_template_sentence_from_tags_place_date_camera(library, tmp_path):
    descs, _ = run(tmp_path, library)
    texts = sorted(d.text for d in descs.values())
    assert texts == ["A daisy, July 2001, taken with a Nikon E775.",
                     "A dog, May 1999, taken with a Kodak DC240 ZOOM DIGITAL CAMERA."]
    assert {(d.source, d.model_id) for d in descs.values()} == {("template", None)}
