"""The planner, durable jobs (SIGKILL and resume, cancel, conflicts) and the Dask executor."""

import csv
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from lumina.catalog.db import open_catalog
from lumina.catalog.models import (Asset, CaptureDate, Job, Metadata, PerceptualHash, Place, Quality,
                                   StageRecord, Thumbnail)
from lumina.errors import ConflictError, ConfigError, NotFoundError
from lumina.pipeline import jobs
from lumina.pipeline.scan import scan
from lumina.stages import CATALOG_STAGES, STAGES, dependants
from tests.conftest import copy_files


def manifest_sample(corpus, per_kind: dict[str, int]) -> list[str]:
    """The first files of each kind in MANIFEST.csv order (real camera files, broken and fuzzed)."""
    out, seen = [], {}
    with open(corpus / "MANIFEST.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        if seen.get(row["kind"], 0) < per_kind.get(row["kind"], 0):
            seen[row["kind"]] = seen.get(row["kind"], 0) + 1
            out.append(row["relpath"])
    return out


SAMPLE = {"jpeg": 6, "png": 2, "tiff": 1, "heic": 1, "raw": 1, "video": 1, "broken": 3, "fuzzed": 3, "webp": 1}


@pytest.fixture
def small_library(corpus, tmp_path, settle_now):
    lib = tmp_path / "lib"
    copy_files(corpus, lib, *manifest_sample(corpus, SAMPLE))
    return lib


def records(cat) -> dict[tuple[str, str], tuple]:
    with cat.session() as s:
        return {(r.asset_id, r.stage): (r.finished_at, r.status, r.error) for r in s.scalars(select(StageRecord))}


def test_changing_one_stages_parameters_reruns_exactly_it_and_its_dependants(small_library, tmp_path):
    cat = open_catalog(tmp_path / "cat")
    first = jobs.run_now(cat, "scan", {"roots": [str(small_library)]})
    assert first["status"] == "succeeded" and first["failed"] > 0  # the broken files: recorded, not fatal
    again = jobs.run_now(cat, "pipeline")
    assert again["status"] == "succeeded" and again["total"] == 0 and again["stages"] == {}  # nothing to do
    before = records(cat)
    cat.close()
    cat = open_catalog(tmp_path / "cat", overrides={"geohash_precision": 7})
    changed = jobs.run_now(cat, "pipeline")
    after = records(cat)
    rerun = {stage for (aid, stage), rec in after.items() if before[(aid, stage)][0] != rec[0]}
    expected = {"geo", *(d for d in dependants("geo") if d in STAGES)}
    assert rerun == expected == {"geo", "dates", "descriptions"}  # a template sentence names the place
    ran = {name for name, c in changed["stages"].items() if sum(c.values())}
    # and the catalog-wide dependants, once each
    assert ran == {"geo", "dates", "descriptions", "bursts", "duplicates", "embedding_pairs"}
    with cat.session() as s:
        assert all(len(g) <= 7 for g in s.scalars(select(Place.geohash)) if g)
    cat.close()


def test_failures_name_file_stage_and_kind(cases, tmp_path, settle_now):
    """Field case B28 through the job system: the job lists every failure."""
    cat = open_catalog(tmp_path / "cat")
    doc = jobs.run_now(cat, "scan", {"roots": [str(cases / "B28" / "input")]})
    cat.close()
    assert doc["status"] == "succeeded" and doc["failed"] > 0 and doc["done"] + doc["failed"] == doc["total"]
    thumbs = doc["stages"]["thumbnails"]
    assert (thumbs["ok"], thumbs["failed"]) in ((6, 3), (5, 4))
    by_file = {(os.path.basename(f["path"]), f["stage"]): f for f in doc["failures"]}
    assert by_file[("cut.jpg", "thumbnails")]["kind"] == "truncated"
    assert by_file[("notes.jpg", "thumbnails")]["kind"] == "unsupported_format"
    assert all(f["message"].startswith(f["kind"] + ":") for f in doc["failures"])


def test_conflicts_cancel_and_unknown_ids(small_library, tmp_path):
    cat = open_catalog(tmp_path / "cat", overrides={"workers": 1})
    scan(cat, [small_library], run_stages=False)
    queued = jobs.submit(cat, "pipeline")
    with pytest.raises(ConflictError, match=f"job {queued['id']} \\(pipeline\\) is already queued"):
        jobs.submit(cat, "pipeline")
    with pytest.raises(ConfigError):
        jobs.submit(cat, "no-such-stage")
    assert jobs.cancel(cat, queued["id"])["status"] == "cancelled"
    with pytest.raises(ConflictError):
        jobs.cancel(cat, queued["id"])
    with pytest.raises(NotFoundError):
        jobs.get(cat, 9999)
    # a running job stops between batches (16 assets for a pixel stage) and keeps what it committed
    running = jobs.submit(cat, "hashes")
    with cat.writer():
        job = jobs._claim(cat, jobs.worker_id(), running["id"])
        assert jobs.cancel(cat, running["id"])["cancel_requested"] is True
        jobs.execute(cat, job)
    doc = jobs.get(cat, running["id"])
    assert doc["status"] == "cancelled" and 0 < doc["done"] + doc["failed"] < doc["total"]
    assert sum(1 for (_, st) in records(cat) if st == "hashes") == doc["done"] + doc["failed"] == 16
    cat.close()


def _wait(predicate, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if (value := predicate()) is not None:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def test_worker_survives_sigkill_without_loss(corpus, tmp_path, settle_now):
    """A real worker process on the whole corpus, killed mid-job, then restarted."""
    where = tmp_path / "cat"
    cat = open_catalog(where)
    scan(cat, [corpus], run_stages=False)
    job_id = jobs.submit(cat, "pipeline")["id"]
    with cat.session() as s:
        assets = s.scalar(select(func.count()).select_from(Asset))
    cmd = [sys.executable, "-m", "lumina", "worker", "--once", "--catalog", str(where)]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def progressed():
        with cat.session() as s:
            job = s.get(Job, job_id)
            return job if job.status == "running" and job.done + job.failed >= 120 else None

    _wait(progressed, 300, "the worker to commit some batches")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = records(cat)
    with cat.session() as s:
        job = s.get(Job, job_id)
        assert job.status == "running"  # as the killed worker left it
        settled_before = job.done + job.failed
    assert len(before) == settled_before  # counts were committed with the results, never apart

    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    doc = jobs.get(cat, job_id)
    assert doc["status"] == "succeeded" and doc["attempts"] == 2
    assert "killed or crashed" in doc["error"]
    after = records(cat)
    assert all(after[k][0] == v[0] for k, v in before.items())  # nothing committed was redone
    assert len(after) == assets * len(STAGES)  # nothing lost
    with cat.session() as s:
        assert s.scalar(select(func.count()).select_from(StageRecord)) == len(after)  # nothing written twice
    assert doc["done"] + doc["failed"] == len(after) + len(CATALOG_STAGES)  # every asset-stage unit, plus
    # one per catalog-wide stage (bursts, duplicates, embedding_pairs)
    cat.close()


def table_rows(cat) -> dict:
    """Every per-asset stage output, comparable across catalogs (ids are content hashes)."""
    out = {}
    with cat.session() as s:
        for model, cols in ((Metadata, ("camera_make", "camera_model", "width", "height", "gps_latitude")),
                            (CaptureDate, ("capture_time", "capture_time_source", "flags")),
                            (Place, ("geohash", "country_code", "timezone")),
                            (PerceptualHash, ("ahash", "dhash", "phash", "whash", "degenerate", "signature")),
                            (Quality, ("score", "sharpness", "jpeg_quality")),
                            (Thumbnail, ("grid_path", "preview_path", "thumbhash"))):
            out[model.__tablename__] = {r.asset_id: tuple(getattr(r, c) for c in cols) for r in s.scalars(select(model))}
        out["records"] = {(r.asset_id, r.stage): (r.status, r.error, r.version, r.params_hash)
                          for r in s.scalars(select(StageRecord))}
    return out


def test_dask_local_cluster_gives_the_process_pools_results(small_library, tmp_path, another_database):
    distributed = pytest.importorskip("distributed")
    pool = open_catalog(tmp_path / "pool", overrides={"workers": 2})
    scan(pool, [small_library])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        dask = open_catalog(tmp_path / "dask", overrides={"dask_scheduler": cluster.scheduler_address},
                            database_url=another_database())
        doc = jobs.run_now(dask, "scan", {"roots": [str(small_library)]})
        assert doc["status"] == "succeeded"
        with distributed.Client(cluster.scheduler_address) as client:
            assert client.run(lambda: "lumina.pipeline.runner" in sys.modules)  # the work ran on the workers
    a, b = table_rows(pool), table_rows(dask)
    assert a["records"] and a == b
    pool.close()
    dask.close()


def test_path_mapping():
    from lumina.pipeline.executors import map_path, parse_path_map

    pairs = parse_path_map("/photos=/mnt/nas/photos; /photos/raw=/fast/raw")
    assert map_path(b"/photos/raw/a.cr2", pairs) == b"/fast/raw/a.cr2"
    assert map_path(b"/photos/2020/a.jpg", pairs) == b"/mnt/nas/photos/2020/a.jpg"
    assert map_path(b"/photosX/a.jpg", pairs) == b"/photosX/a.jpg"
    with pytest.raises(ConfigError):
        parse_path_map("/no-equals-sign")


def test_a_forced_job_resumed_never_redoes_its_own_results(small_library, tmp_path):
    cat = open_catalog(tmp_path / "cat", overrides={"workers": 1})
    scan(cat, [small_library])
    before = records(cat)
    doc = jobs.submit(cat, "hashes", {"force": True})
    with cat.writer():  # the first attempt stops after one batch of 16 (a cancel stands in for a kill)
        job = jobs._claim(cat, jobs.worker_id(), doc["id"])
        jobs.cancel(cat, doc["id"])
        jobs.execute(cat, job)
    mid = records(cat)
    first = {k for k in mid if k[1] == "hashes" and mid[k][0] != before[k][0]}
    assert len(first) == 16
    with cat.session() as s:  # as a killed worker leaves it
        row = s.get(Job, doc["id"])
        row.status, row.cancel_requested = "running", False
        s.commit()
    assert jobs.work(cat, once=True) == 1
    after = records(cat)
    hashes = [k for k in after if k[1] == "hashes"]
    assert all(after[k][0] == mid[k][0] for k in first)  # not redone on resume
    assert all(after[k][0] != before[k][0] for k in hashes)  # every asset forced exactly once
    final = jobs.get(cat, doc["id"])
    assert final["status"] == "succeeded" and final["attempts"] == 2 and final["done"] + final["failed"] == len(hashes)
    cat.close()
