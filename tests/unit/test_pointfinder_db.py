"""The PointFinder database loader (chalicelib/prediction/pointfinder_db.py) on Debian's
resfinder-example."""
from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.jobs.params import normalise_species
from chalicelib.prediction import pointfinder_db

POINT_DB = Path(pointfinder_db.db_dir(), "config").is_file()
pytestmark = pytest.mark.skipif(not POINT_DB, reason="resfinder-example is not installed (make test installs it)")


def test_every_species_of_the_database_loads_and_is_accepted() -> None:
    db = pointfinder_db.load_db()
    assert db.version == Path(pointfinder_db.db_dir(), "VERSION").read_text().strip()
    for key in db.species:
        assert normalise_species(key) == key
        sp = db.load(key)
        assert sp.genes and sp.rows
