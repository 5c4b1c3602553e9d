"""The web UI in a real browser: Debian's chromium driven by Playwright against a real `lumina serve`
process on a catalog of real photos from ../shared/eval/dev (a burst, resized copies, a PNG and a HEIC
conversion). The catalog is scanned with a 1-megapixel decode limit, so the PNG and the HEIC fail with
`pixel_limit`: a real gap the dashboard fills once the server runs with the default limit.

Every page must load with no console error and no request leaving 127.0.0.1; a screenshot of each is
saved under the test run's temporary folder (or LUMINA_SCREENSHOTS when set)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.conftest import _need, command_env

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
TOKEN = "web-test-token-0123456789"
BIN = Path(sys.executable).parent
LIB_FILES = ["originals/Panasonic NV-GX7.jpg", "resize/Panasonic NV-GX7_50.jpg", "originals/Sony DSC-HX5V (2).jpg",
             "resize/Sony DSC-HX5V (2)_50.jpg", "originals/DSCN0010.jpg", "originals/DSCN0012.jpg",
             "originals/DSCN0021.jpg", "originals/Canon EOS 7D.jpg", "originals/Apple iPhone 4.jpg",
             "originals/Blackberry Z10.jpg", "resize/Blackberry Z10_25.jpg", "bursts/IMG_4101.JPG",
             "bursts/IMG_4102.JPG", "bursts/IMG_4103.JPG", "bursts/DSC_4119.JPG", "bursts/DSC_4120.JPG",
             "bursts/DSC_4121.JPG", "format/Apple iPhone 4.heic", "format/Canon PowerShot G2 (1).png"]
XSS_NAME = '<img src=x onerror="window.pwned=1">.jpg'  # a legal file name (no slash) that is also HTML
XSS_KEYWORD = "<script>window.pwned=2</script>"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    """The server's JSON API with the bearer token (what the tests check the UI's effects with)."""

    def __init__(self, base: str):
        self.base = base

    def __call__(self, path: str, method: str = "GET", body: dict | None = None):
        req = urllib.request.Request(self.base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as res:
            return json.loads(res.read() or b"null")


@pytest.fixture(scope="module")
def server(eval_dev, tmp_path_factory, session_database):
    _need(os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} missing (make system, or apt-get install chromium)")
    lib = tmp_path_factory.mktemp("weblib")
    for rel in LIB_FILES:
        shutil.copy2(eval_dev / rel, lib / os.path.basename(rel))
    shutil.copy2(eval_dev / "originals/DSCN0025.jpg", lib / XSS_NAME)
    home = tmp_path_factory.mktemp("webhome")
    env = command_env(session_database(), LUMINA_API_TOKEN=TOKEN)  # PostgreSQL: a database of its own
    subprocess.run([BIN / "lumina", "scan", str(lib), "--catalog", str(home), "--workers", "1", "-q"], check=True,
                   env={**env, "LUMINA_MAX_IMAGE_PIXELS": "1000000"}, capture_output=True)
    port = _free_port()
    proc = subprocess.Popen([BIN / "lumina", "serve", "--catalog", str(home), "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(base + "/health", timeout=1)
            break
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("lumina serve did not start: " + proc.stdout.read().decode(errors="replace"))
    yield base, Api(base), lib
    proc.terminate()
    proc.wait(30)
    proc.stdout.close()


@pytest.fixture(scope="module")
def screens(tmp_path_factory) -> Path:
    out = os.environ.get("LUMINA_SCREENSHOTS")
    path = Path(out) if out else tmp_path_factory.mktemp("screens")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser_page(server):
    base, _, _ = server
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        problems: list[str] = []

        def outside(route):  # nothing may leave this machine: record and refuse
            problems.append(f"request left 127.0.0.1: {route.request.url}")
            route.abort()

        context.route(lambda url: urlparse(url).hostname not in ("127.0.0.1",) and not url.startswith(("data:", "blob:")),
                      outside)
        page = context.new_page()
        page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        page.problems = problems
        page.base = base
        yield page
        context.close()
        browser.close()


@pytest.fixture
def page(browser_page):
    """The signed-in page; after each test, no console error and no request left 127.0.0.1."""
    browser_page.problems.clear()
    yield browser_page
    assert browser_page.problems == []
    assert browser_page.evaluate("window.pwned") is None  # no script from a file name or keyword ran


def wait_true(page, expression: str, timeout_s: float = 30) -> None:
    """Poll a JavaScript expression until truthy (page.wait_for_function evaluates strings with eval,
    which the pages' Content-Security-Policy forbids)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.1)


def shot(page, screens: Path, name: str) -> None:
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(screens / f"{name}.png"), full_page=False)


def test_login(page, screens):
    page.goto(page.base + "/library")
    assert "/login" in page.url  # every page needs the session
    page.fill("input[name=token]", "not-the-token")
    page.click("button[type=submit]")
    assert "Wrong token" in page.text_content(".message")
    page.problems.clear()  # the refused sign-in answers 401, which chromium logs
    shot(page, screens, "01-login-refused")
    page.fill("input[name=token]", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url(page.base + "/library")
    cookie = next(c for c in page.context.cookies() if c["name"] == "lumina_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert "lumina_session" not in page.evaluate("document.cookie")  # scripts cannot read it


def test_dashboard_fills_a_gap(page, server, screens):
    page.goto(page.base + "/")
    row = page.locator('tr[data-type="thumbnails"]')
    row.wait_for()
    assert row.locator(".gap").text_content() == "2"
    assert "thumbnails failed: pixel_limit: 2" in row.locator(".reasons").text_content()
    shot(page, screens, "02-dashboard-gaps")
    row.locator(".reasons a").click()  # the two photos it counts, each a placeholder saying why
    page.locator(".tile .why").nth(1).wait_for()
    assert page.locator(".tile .why").all_text_contents() == ["No thumbnail: pixel_limit: " + t.split("pixel_limit: ", 1)[1]
                                                              for t in page.locator(".tile .why").all_text_contents()]
    assert page.locator(".tile").count() == 2 and "pixel_limit" in page.locator(".tile .why").first.text_content()
    shot(page, screens, "02b-gap-assets")
    page.go_back()
    row = page.locator('tr[data-type="thumbnails"]')
    row.locator("button.fill").click()
    page.locator('tr[data-type="thumbnails"] .gap', has_text="0").wait_for(timeout=60_000)
    assert page.locator("#running .progress").first.text_content().startswith("thumbnails succeeded")
    _, api, _ = server
    row = next(r for r in api("/api/catalogs/default/gaps")["metadata"] if r["type"] == "thumbnails")
    assert row["gap"] == 0 and row["coverage"] == 1.0
    shot(page, screens, "03-dashboard-filled")


def test_reason_links_to_its_assets(page, server):
    page.goto(page.base + "/")
    page.locator('tr[data-type="gps"] .reasons a').first.click()
    page.wait_for_url("**/library?gap=gps*")
    _, api, _ = server
    rows = {r["type"]: r for r in api("/api/catalogs/default/gaps")["metadata"]}
    page.locator("#count", has_text="photo").wait_for()
    assert page.text_content("#count") == f"{rows['gps']['gap']} photos"


def test_library_grid_and_filters(page, server, screens):
    page.goto(page.base + "/library")
    page.locator(".tile img").first.wait_for()
    wait_true(page, "[...document.querySelectorAll('.tile img')].filter(i => i.complete && i.naturalWidth).length >= 12")
    visible = page.evaluate("""[...document.querySelectorAll('.tile')].filter(t => {
        const r = t.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight && r.right <= innerWidth; }).length""")
    assert visible >= 12  # at least 12 whole thumbnails without scrolling in 1400x900
    assert page.locator(".timeline a.year").count() >= 3
    shot(page, screens, "04-library")
    _, api, _ = server
    want = api("/api/catalogs/default/images?camera=COOLPIX")["total"]
    page.locator("form#filters[data-ready]").wait_for()  # the filter choices arrive after the grid
    page.select_option("select[name=camera]", "COOLPIX P6000")
    page.locator("#count", has_text=f"{want} photo").wait_for()
    wait_true(page, f"document.querySelectorAll('.tile').length === {want}")
    shot(page, screens, "05-library-filtered")
    page.goto(page.base + "/library?camera=coolpix")  # typed text, none of the choices: shown as the filter
    page.locator("form#filters[data-ready]").wait_for()
    page.locator("#count", has_text=f"{want} photo").wait_for()
    assert page.evaluate("document.querySelector('select[name=camera]').selectedOptions[0].text") == "camera: coolpix"


def test_photo_view_sets_capture_time(page, server, screens):
    _, api, _ = server
    item = api("/api/catalogs/default/images?camera=COOLPIX&limit=1")["items"][0]
    page.goto(page.base + f"/photo/{item['asset_id']}")
    page.locator("#candidates tr.chosen").wait_for()
    assert page.locator(".minimap .leaflet-tile-loaded").count() > 0 or page.locator(".minimap").count() == 1
    shot(page, screens, "06-photo")
    page.fill("input[name=capture_time]", "2001-02-03T04:05:06")
    page.click("#edit button[type=submit]")
    page.locator("#edit-result", has_text="Saved in the catalog").wait_for()
    doc = api(f"/api/images/{item['asset_id']}")
    assert doc["capture_time"] == "2001-02-03T04:05:06" and doc["overrides"]["capture_time"]
    page.click("#preview")  # PhotoSwipe: zoomable, keyboard-driven preview
    page.locator(".pswp--open").wait_for()
    shot(page, screens, "07-photo-photoswipe")
    page.keyboard.press("Escape")


def test_duplicates_review_by_keyboard(page, server, screens, tmp_path):
    _, api, _ = server
    before = api("/api/catalogs/default/duplicates")
    page.goto(page.base + "/duplicates")
    page.locator(".member.keeper").wait_for()
    group_id = int(page.url.split("group=")[1].split("&")[0])
    group = next(g for g in before["groups"] if g["id"] == group_id)
    shot(page, screens, "08-duplicates")
    page.keyboard.press("Enter")  # accept the keeper
    page.locator("#result", has_text=f"Group {group_id}: kept").wait_for()
    for m in group["members"]:
        status = api(f"/api/images/{m['asset_id']}")["status"]
        assert status == ("active" if m["asset_id"] == group["keeper"]["asset_id"] else "rejected")
    after = next(g for g in api("/api/catalogs/default/duplicates")["groups"] if g["id"] == group_id)
    assert after["resolved"]
    shot(page, screens, "09-duplicates-resolved")
    # the next group, resolved moving the other copies to a trash folder (copied, verified, removed)
    page.locator("#group h2", has_text="(1 of 2)").wait_for()
    nxt = next(g for g in before["groups"] if g["id"] == int(page.url.split("group=")[1].split("&")[0]))
    others = [p for m in nxt["members"] if m["asset_id"] != nxt["keeper"]["asset_id"] for p in m["paths"]]
    sizes = {os.path.basename(p): os.path.getsize(p) for p in others}
    trash = tmp_path / "trash"
    page.fill("input[name=trash]", str(trash))
    page.click("#trash")
    page.locator("#result", has_text="moved to the trash").wait_for()
    assert all(not os.path.exists(p) for p in others)
    moved = {f.name.split("-", 2)[2]: f.stat().st_size for f in trash.iterdir()}  # STAMP-SHA8-NAME (lumina.pipeline.trash)
    assert moved == sizes


def test_bursts_keep_a_chosen_frame(page, server, screens):
    _, api, _ = server
    page.goto(page.base + "/bursts")
    page.locator(".filmstrip .member").first.wait_for()
    burst_id = int(page.url.split("burst=")[1])
    burst = api(f"/api/catalogs/default/bursts/{burst_id}")
    times = [f["capture_time"] for f in burst["frames"]]
    assert times == sorted(times) and all("." in t for t in times)  # capture order, sub-second times shown
    assert page.locator(".filmstrip .member").nth(0).text_content().count(times[0]) == 1
    page.keyboard.press("1")
    page.keyboard.press("2")
    page.keyboard.press("c")  # compare the two
    page.locator("#compare img").nth(1).wait_for()
    shot(page, screens, "10-bursts-compare")
    page.keyboard.press("1")  # unselect: keep frame 2 alone
    page.keyboard.press("Enter")
    page.locator("#result", has_text=f"Burst {burst_id}: kept 1").wait_for()
    kept = burst["frames"][1]["asset_id"]
    for f in burst["frames"]:
        assert api(f"/api/images/{f['asset_id']}")["status"] == ("active" if f["asset_id"] == kept else "rejected")
    shot(page, screens, "11-bursts-applied")


def test_map(page, server, screens):
    _, api, _ = server
    total = api("/api/catalogs/default/positions")["total"]
    page.goto(page.base + "/map")
    page.locator("#count", has_text=f"{total} photos with a position").wait_for()
    wait_true(page, "document.querySelectorAll('.leaflet-tile-loaded').length > 0")
    markers = page.locator(".marker-cluster, .leaflet-marker-icon")
    markers.first.wait_for()
    markers.first.click()
    page.locator("#picked img").first.wait_for()
    shot(page, screens, "12-map")
    in_2008 = api("/api/catalogs/default/positions?date_from=2008-01-01&date_to=2008-12-31")["total"]
    assert 0 < in_2008 < total
    page.fill("input[name=date_from]", "2008-01-01")
    page.fill("input[name=date_to]", "2008-12-31")
    page.click("form.filters button[type=submit]")
    page.locator("#count", has_text=f"{in_2008} photo").wait_for()


def test_jobs_page(page, screens):
    page.goto(page.base + "/jobs")
    page.locator("#jobs tr[data-job]").first.wait_for()
    assert "thumbnails succeeded" in page.locator("#jobs").text_content()
    shot(page, screens, "13-jobs")


def test_xss_name_and_keyword_render_inert(page, server, screens):
    _, api, lib = server
    item = next(i for i in api("/api/catalogs/default/images?limit=100")["items"] if i["paths"][0].endswith(XSS_NAME))
    api(f"/api/images/{item['asset_id']}", "PATCH", {"keywords": [XSS_KEYWORD]})
    page.goto(page.base + f"/photo/{item['asset_id']}")
    page.locator("#title").wait_for()
    assert page.text_content("#title") == XSS_NAME
    assert XSS_KEYWORD in page.text_content(".photo aside")
    assert page.locator(".photo img[src=x]").count() == 0
    shot(page, screens, "14-xss-inert")
    page.goto(page.base + "/library?keyword=" + urllib.request.quote(XSS_KEYWORD))
    page.locator("#count", has_text="1 photo").wait_for()  # the keyword filter finds it
    page.locator(".tile img").wait_for()
    assert page.evaluate("document.querySelector('.tile').title") == XSS_NAME


def test_api_docs_offline(page, screens):
    page.goto(page.base + "/docs")
    page.locator(".swagger-ui .opblock").first.wait_for()
    shot(page, screens, "15-docs")
    page.goto(page.base + "/redoc")
    page.locator("redoc h1, .api-info h1").first.wait_for(timeout=30_000)
    shot(page, screens, "16-redoc")


def test_api_error_is_readable(page, screens):
    page.goto(page.base + "/photo/" + "0" * 64)  # no such photo: a message, not a blank page
    page.locator("#error:not([hidden])").wait_for()
    assert "no image" in page.text_content("#error")
    page.problems.clear()  # the 404 itself is logged by chromium
    shot(page, screens, "17-error")


def test_logout_then_wrong_tokens_are_rate_limited(page):
    page.goto(page.base + "/")
    page.click(".logout button")
    page.wait_for_url("**/login*")
    page.goto(page.base + "/jobs")
    assert "/login" in page.url
    statuses = []
    for _ in range(7):
        res = page.request.post(page.base + "/login", form={"token": "wrong", "next": "/"}, max_redirects=0)
        statuses.append(res.status)
    first = statuses.index(429)  # after at most LOGIN_FAILURES_MAX (5) wrong tokens in a minute, this one included
    assert 1 <= first <= 5 and set(statuses[:first]) == {401} and set(statuses[first:]) == {429}
    res = page.request.post(page.base + "/login", form={"token": TOKEN, "next": "/"}, max_redirects=0)
    assert res.status == 429 and "try again in" in res.text() and int(res.headers["retry-after"]) <= 60
    page.problems.clear()
