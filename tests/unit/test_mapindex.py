"""Prebuilt minimap2 indexes (design §24): written at packaging, loaded by a cold container,
never loaded for other sequences or options."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from chalicelib.prediction import mapindex

RNG = random.Random(5)
REFS = [(f"ref{i}", "".join(RNG.choices("ACGT", k=1500))) for i in range(4)]
OPTIONS = {"k": 15, "w": 10, "best_n": 20}


def hits(aligner: object, query: str) -> list[tuple[str, int, int, int]]:
    return [(h.ctg, h.r_st, h.r_en, h.strand) for h in aligner.map(query)]  # type: ignore[attr-defined]


def test_prebuilt_index_is_written_then_loaded_instead_of_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(mapindex.INDEX_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(mapindex.INDEX_WRITE_ENV, "1")
    built = mapindex.build_index(REFS, "test refs", **OPTIONS)
    files = list(tmp_path.glob("*.mmi"))
    assert [f.name for f in files] == [mapindex.index_name(REFS, OPTIONS)]

    monkeypatch.delenv(mapindex.INDEX_WRITE_ENV)
    calls: list[object] = []
    real = mapindex._build
    monkeypatch.setattr(mapindex, "_build", lambda *a, **k: calls.append(a) or real(*a, **k))
    loaded = mapindex.build_index(REFS, "test refs", **OPTIONS)
    assert calls == []  # loaded from the file
    query = REFS[2][1][200:900]
    assert hits(loaded, query) == hits(built, query) == [("ref2", 200, 900, 1)]


def test_other_sequences_or_options_are_built_not_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(mapindex.INDEX_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(mapindex.INDEX_WRITE_ENV, "1")
    mapindex.build_index(REFS, "test refs", **OPTIONS)
    monkeypatch.delenv(mapindex.INDEX_WRITE_ENV)
    last = "C" if REFS[3][1].endswith("A") else "A"
    changed = REFS[:3] + [("ref3", REFS[3][1][:-1] + last)]  # one base differs
    assert mapindex.index_name(changed, OPTIONS) != mapindex.index_name(REFS, OPTIONS)
    assert mapindex.index_name(REFS, {**OPTIONS, "k": 17}) != mapindex.index_name(REFS, OPTIONS)
    aligner = mapindex.build_index(changed, "test refs", **OPTIONS)
    assert hits(aligner, changed[3][1][500:1200])[0][0] == "ref3"
    assert len(list(tmp_path.glob("*.mmi"))) == 1  # nothing written without AMR_INDEX_WRITE
