"""Promises about the package itself: public API, documented settings, stages and error kinds."""

from pathlib import Path

import lumina
from lumina.catalog.db import HEAD_REVISION, MIGRATIONS, alembic_config
from lumina.errors import ERROR_KINDS
from lumina.settings import SETTINGS
from lumina.stages import GRAPH, STAGES

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_public_api_is_exact():
    assert sorted(lumina.__all__) == sorted(["__version__", "open_catalog", "scan", "run_pipeline", "describe",
                                             "gap_report", "LuminaError", "STAGES", "SETTINGS"])
    for name in lumina.__all__:
        assert getattr(lumina, name) is not None


def test_head_revision_matches_the_migrations():
    from alembic.script import ScriptDirectory

    assert ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head() == HEAD_REVISION
    assert MIGRATIONS.is_dir()


def test_every_setting_stage_and_error_kind_is_documented():
    for s in SETTINGS:
        assert s.help and f"`{s.name}`" in README, s.name
    for spec in GRAPH:
        assert f"`{spec.name}`" in README, spec.name
    for kind in ERROR_KINDS:
        assert f"`{kind}`" in README, kind
    assert set(STAGES) <= {s.name for s in GRAPH}


def test_models_match_the_migrations(tmp_path):
    """The schema Alembic builds is the one the models declare (no missing or extra column/index)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from lumina.catalog.db import open_catalog
    from lumina.catalog.models import Base

    cat = open_catalog(tmp_path)
    with cat.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    cat.close()
