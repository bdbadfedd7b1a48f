"""A minimap2 index (mappy) of several named sequences, built or loaded prebuilt.

``mappy.Aligner(seq=...)`` indexes one sequence only, so an index of many (the ResFinder
alleles, a species' PointFinder genes, the reads-mode references) is built from a
temporary FASTA file, removed once the index is in memory.

Why prebuilt indexes: a cold Lambda container would otherwise build each index it needs
(the allele index takes 0.06-0.8 s depending on the machine's load) before its first job.
The artifact carries them (`scripts/package.py` builds them with the service's own code
and ``AMR_INDEX_WRITE=1``) in the directory ``AMR_INDEX_DIR`` names; an index is loaded
from there when a file for exactly these sequences, options and minimap2 version exists
(the name is a digest of them), so a database or option change can never load a stale
index — it is built as before.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from typing import Any

import mappy

INDEX_DIR_ENV = "AMR_INDEX_DIR"
INDEX_WRITE_ENV = "AMR_INDEX_WRITE"
#: Options that shape the index itself (the others are mapping options, passed again on load).
_INDEX_OPTIONS = ("preset", "k", "w", "min_cnt", "extra_flags")


def index_name(records: list[tuple[str, str]], options: dict[str, Any]) -> str:
    """The file name of a prebuilt index: a digest of the sequences, options and minimap2."""
    digest = hashlib.sha256(f"{mappy.__version__}|{sorted(options.items())!r}".encode())
    for name, seq in records:
        digest.update(f">{name}\n{seq}\n".encode())
    return f"{digest.hexdigest()[:32]}.mmi"


def build_index(records: Iterable[tuple[str, str]], what: str, **options: Any) -> mappy.Aligner:
    """The index of ``(name, sequence)`` records; ``what`` names them in the error. Loaded
    from ``AMR_INDEX_DIR`` when prebuilt; with ``AMR_INDEX_WRITE=1`` (packaging) a missing
    one is built and written there."""
    records = list(records)
    directory = os.environ.get(INDEX_DIR_ENV)
    if not directory:
        return _build(records, what, None, **options)
    path = os.path.join(directory, index_name(records, options))
    if os.path.isfile(path):
        aligner = mappy.Aligner(path, **{k: v for k, v in options.items() if k not in _INDEX_OPTIONS})
        if aligner:
            return aligner
    if os.environ.get(INDEX_WRITE_ENV) == "1":
        os.makedirs(directory, exist_ok=True)
        return _build(records, what, path, **options)
    return _build(records, what, None, **options)


def _build(records: list[tuple[str, str]], what: str, out: str | None, **options: Any) -> mappy.Aligner:
    tmpdir = tempfile.mkdtemp(prefix="amr-index-")
    try:
        path = os.path.join(tmpdir, "refs.fa")
        with open(path, "w", encoding="ascii") as fh:
            for name, seq in records:
                fh.write(f">{name}\n{seq}\n")
        aligner = mappy.Aligner(path, fn_idx_out=out, **options) if out else mappy.Aligner(path, **options)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    if not aligner:
        raise RuntimeError(f"failed to build the minimap2 index of {what}")
    return aligner
