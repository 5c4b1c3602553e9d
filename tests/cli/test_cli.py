"""The commands as a user runs them (Typer's CliRunner, real catalog, real photos)."""

import json

from typer.testing import CliRunner

from lumina.catalog.queries import SHOW_KEYS
from lumina.cli.main import app
from lumina.stages.dates import DatesStage
from tests.conftest import copy_files

runner = CliRunner()


def test_scan_show_gaps_set_date(corpus, tmp_path):
    lib = tmp_path / "lib"
    photo, *_ = copy_files(corpus, lib, "exif-samples/jpg/gps/DSCN0010.jpg", "exif-samples/jpg/corrupted.jpg")
    cat = str(tmp_path / "cat")
    res = runner.invoke(app, ["scan", str(lib), "--catalog", cat, "--quiet"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["show", str(photo), "--catalog", cat, "--format", "json"])
    doc = json.loads(res.stdout)
    assert set(SHOW_KEYS) <= set(doc)
    assert doc["camera_model"] == "COOLPIX P6000" and doc["city"] == "Arezzo"
    assert doc["stages"]["dates"] == {"status": "ok", "error": None, "version": DatesStage.version,
                                      "duration_ms": doc["stages"]["dates"]["duration_ms"],
                                      "finished_at": doc["stages"]["dates"]["finished_at"]}
    by_id = json.loads(runner.invoke(app, ["show", doc["asset_id"], "-c", cat, "--format", "json"]).stdout)
    assert by_id["paths"] == doc["paths"]
    res = runner.invoke(app, ["gaps", "--catalog", cat, "--format", "json"])
    assert json.loads(res.stdout)["total_assets"] == 2
    assert "| camera |" in runner.invoke(app, ["gaps", "-c", cat]).stdout
    res = runner.invoke(app, ["set-date", str(photo), "2001-02-03T04:05:06.7+05:45", "-c", cat, "--format", "json"])
    doc = json.loads(res.stdout)
    assert (doc["capture_time"], doc["capture_time_source"], doc["utc_offset_minutes"]) == \
        ("2001-02-03T04:05:06.7", "user", 345)
    res = runner.invoke(app, ["set-date", str(photo), "--clear", "-c", cat, "--format", "json"])
    assert json.loads(res.stdout)["capture_time_source"] == "EXIF:DateTimeOriginal"


def test_errors_are_one_line_and_exit_1(tmp_path):
    res = runner.invoke(app, ["show", "/nowhere.jpg", "--catalog", str(tmp_path / "none")])
    assert res.exit_code == 1 and "no catalog" in res.stderr
    res = runner.invoke(app, ["scan", str(tmp_path / "missing"), "--catalog", str(tmp_path / "c")])
    assert res.exit_code == 1 and "is not a folder" in res.stderr
    res = runner.invoke(app, ["gaps"], env={"LUMINA_CATALOG": "", "HOME": str(tmp_path)})
    assert res.exit_code == 1 and f"no catalog at {tmp_path}/.lumina/catalog" in res.stderr and "--catalog" in res.stderr


def test_user_text_is_not_markup_and_empty_catalog_is_refused(tmp_path, another_database):
    cat = str(tmp_path / "cat")
    (tmp_path / "lib").mkdir()
    assert runner.invoke(app, ["scan", str(tmp_path / "lib"), "-c", cat, "-q"]).exit_code == 0
    res = runner.invoke(app, ["show", "/photos/[b]x[/i].jpg", "-c", cat])
    assert res.exit_code == 1 and "[b]x[/i].jpg" in res.stderr
    home = tmp_path / "home"  # neither --catalog nor LUMINA_CATALOG: ~/.lumina/catalog, as `make run` uses
    second = another_database()  # PostgreSQL: a second catalog needs a database of its own
    res = runner.invoke(app, ["scan", str(tmp_path / "lib"), "--catalog", "", "-q"],
                        env={"LUMINA_CATALOG": "", "HOME": str(home)} | ({"LUMINA_DATABASE_URL": second} if second else {}))
    assert res.exit_code == 0, res.output
    assert (home / ".lumina" / "catalog" / ("database.url" if second else "catalog.db")).is_file()
    res = runner.invoke(app, ["gaps", "--format", "json"], env={"LUMINA_CATALOG": "", "HOME": str(home)})
    assert res.exit_code == 0 and json.loads(res.stdout)["catalog"] == str(home / ".lumina" / "catalog")
    res = runner.invoke(app, ["scan", str(tmp_path / "nope"), "-c", str(tmp_path / "new")])
    assert res.exit_code == 1 and not (tmp_path / "new").exists()  # checked before the catalog is created
