"""A minimap2 index (mappy) of several named sequences.

``mappy.Aligner(seq=...)`` indexes one sequence only, so an index of many (the ResFinder
alleles, a species' PointFinder genes, the reads-mode references) is built from a
temporary FASTA file, removed once the index is in memory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from typing import Any

import mappy


def build_index(records: Iterable[tuple[str, str]], what: str, **options: Any) -> mappy.Aligner:
    """The index of ``(name, sequence)`` records; ``what`` names them in the error."""
    tmpdir = tempfile.mkdtemp(prefix="amr-index-")
    try:
        path = os.path.join(tmpdir, "refs.fa")
        with open(path, "w", encoding="ascii") as fh:
            for name, seq in records:
                fh.write(f">{name}\n{seq}\n")
        aligner = mappy.Aligner(path, **options)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    if not aligner:
        raise RuntimeError(f"failed to build the minimap2 index of {what}")
    return aligner
