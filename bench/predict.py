"""Benchmark our predictor against ResFinder 4.3 (BLAST mode) on Debian's kleborate examples.

Run from the repository root with the project venv:  ``python bench/predict.py``

For every genome of the ``kleborate-examples`` package it times
* ours, cold: index cache cleared, so the time includes building the allele index
  (the index build time is also shown on its own), and ours warm (index cached,
  as in a warm Lambda container);
* ResFinder 4.3 with the system python3 and blastn
  (``-acq -t 0.9 -l 0.6``, same thresholds as our defaults);
and compares calls.  A ResFinder locus (its rows at one contig position; ResFinder
lists tied alleles there as separate rows) is "agreed" when we call one of its
genes at an overlapping position on the same contig.  "ours only" are our calls
with no ResFinder row of the same gene overlapping them.

It prints, never asserts, and exits 0 even when something is missing.
"""

from __future__ import annotations

import gzip
import lzma
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib.prediction import acquired as predictor  # noqa: E402
from chalicelib.prediction.fasta import FastaReader  # noqa: E402
from chalicelib.prediction.resfinder_db import DatabaseError, db_dir, load_db  # noqa: E402

SYSTEM_PYTHON = "/usr/bin/python3"
RESFINDER_SCRIPT = shutil.which("run_resfinder.py") or "/usr/bin/run_resfinder.py"
GENOME_SUFFIXES = (".fna", ".fa", ".fasta", ".fas")


@dataclass(frozen=True)
class Call:
    """One gene call reduced to what the comparison needs."""

    gene: str
    contig: str
    start: int
    end: int
    identity: float = 0.0
    coverage: float = 0.0


def find_genomes() -> list[Path]:
    """Genome files shipped by the kleborate-examples package (via dpkg -L)."""
    try:
        out = subprocess.run(
            ["dpkg", "-L", "kleborate-examples"], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        return []
    if out.returncode != 0:
        return []
    files: list[Path] = []
    for line in out.stdout.splitlines():
        p = Path(line.strip())
        name = p.name
        for comp in ("", ".gz", ".xz"):
            if any(name.endswith(sfx + comp) for sfx in GENOME_SUFFIXES) and p.is_file():
                files.append(p)
                break
    return sorted(files)


def genome_name(path: Path) -> str:
    name = path.name
    for comp in (".gz", ".xz"):
        if name.endswith(comp):
            name = name[: -len(comp)]
    return Path(name).stem


def decompress(path: Path, dest: Path) -> Path:
    """Plain FASTA copy (ResFinder needs one; our reader takes plain or gzip, not xz)."""
    opener = lzma.open if path.name.endswith(".xz") else gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as src, open(dest, "wb") as out:  # type: ignore[operator]
        shutil.copyfileobj(src, out, 1 << 20)
    return dest


def run_ours(fasta: Path) -> tuple[float, float, float, list[Call]]:
    """(cold seconds incl. index build, index build seconds, warm seconds, calls)."""
    db = load_db()
    predictor.clear_index_cache()
    t0 = time.perf_counter()
    with open(fasta, "rb") as fh:
        pred = predictor.predict(FastaReader(fh, name=fasta.name), db=db)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    with open(fasta, "rb") as fh:
        predictor.predict(FastaReader(fh, name=fasta.name), db=db)
    warm = time.perf_counter() - t0
    calls = [Call(g.gene, g.contig, g.start, g.end, g.identity, g.coverage) for g in pred.genes]
    return cold, pred.index_seconds, warm, calls


def run_resfinder(fasta: Path, workdir: Path, blastn: str) -> tuple[float, list[Call] | None, str]:
    """(seconds, calls or None on failure, error text)."""
    outdir = workdir / f"rf_{fasta.stem}"
    cmd = [
        SYSTEM_PYTHON, RESFINDER_SCRIPT, "-ifa", str(fasta), "-o", str(outdir), "-acq",
        "-t", "0.9", "-l", "0.6", "-db_res", db_dir(), "-b", blastn,
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, check=False)
    seconds = time.perf_counter() - t0
    tab = outdir / "ResFinder_results_tab.txt"
    if proc.returncode != 0 or not tab.is_file():
        return seconds, None, (proc.stderr or proc.stdout)[-500:]
    calls: list[Call] = []
    seen: set[tuple[str, str, int, int]] = set()
    lines = tab.read_text().splitlines()
    for line in lines[1:]:
        cols = line.split("\t")
        if len(cols) < 7:
            continue
        start, _, end = cols[6].partition("..")
        key = (cols[0], cols[5].split()[0], int(start), int(end))
        if key in seen:  # the same allele reported from two class databases
            continue
        seen.add(key)
        calls.append(Call(key[0], key[1], key[2], key[3], float(cols[1]), float(cols[3])))
    return seconds, calls, ""


def overlaps(a: Call, b: Call) -> bool:
    return a.contig == b.contig and a.start <= b.end and b.start <= a.end


def compare(ours: list[Call], theirs: list[Call]) -> tuple[int, int, list[str], list[str]]:
    """(ResFinder loci, loci we agree with, ResFinder-only descriptions, ours-only descriptions)."""
    loci: dict[tuple[str, int, int], list[Call]] = {}
    for c in theirs:
        loci.setdefault((c.contig, c.start, c.end), []).append(c)
    agreed = 0
    missed: list[str] = []
    for (contig, start, end), calls in loci.items():
        genes = {c.gene for c in calls}
        if any(o.gene in genes and overlaps(o, calls[0]) for o in ours):
            agreed += 1
        else:
            missed.append(f"{'/'.join(sorted(genes))} {contig}:{start}..{end} "
                          f"id {calls[0].identity} cov {calls[0].coverage:.1f}")
    extra = [
        f"{o.gene} {o.contig}:{o.start}..{o.end} id {o.identity} cov {o.coverage}"
        for o in ours
        if not any(o.gene == t.gene and overlaps(o, t) for t in theirs)
    ]
    return len(loci), agreed, missed, extra


def main() -> int:
    genomes = find_genomes()
    if not genomes:
        print("kleborate-examples is not installed (apt-get install kleborate-examples); nothing to benchmark.")
        return 0
    try:
        load_db()
    except DatabaseError as exc:
        print(f"ResFinder database unavailable: {exc}")
        return 0
    blastn = shutil.which("blastn")
    have_rf = Path(RESFINDER_SCRIPT).is_file() and Path(SYSTEM_PYTHON).is_file() and blastn is not None
    if not have_rf:
        print("ResFinder 4.3 (resfinder package) or blastn (ncbi-blast+) is missing; timing ours only.")
    header = (f"{'genome':<16} {'bases':>9} {'ours s':>7} {'index s':>7} {'warm s':>7} "
              f"{'RF s':>6} {'speedup':>7} {'ours':>4} {'RF loci':>7} {'agree':>5} {'ours only':>9}")
    print("ours s = cold run incl. index build; index s = index build alone; "
          "warm s = index cached; speedup = RF s / ours s (cold)")
    print(header)
    print("-" * len(header))
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="amr-bench-") as tmp:
        work = Path(tmp)
        for g in genomes:
            name = genome_name(g)
            fasta = decompress(g, work / f"{name}.fna")
            with open(fasta, "rb") as fh:
                bases = sum(len(s) for _, s in FastaReader(fh, name=fasta.name))
            cold, index_s, warm, ours = run_ours(fasta)
            rf_s, theirs, err = run_resfinder(fasta, work, blastn) if have_rf else (0.0, None, "")
            if theirs is None:
                if have_rf:
                    notes.append(f"{name}: ResFinder failed: {err}")
                print(f"{name:<16} {bases:>9} {cold:>7.2f} {index_s:>7.2f} {warm:>7.2f} "
                      f"{'-':>6} {'-':>7} {len(ours):>4} {'-':>7} {'-':>5} {'-':>9}")
                continue
            n_loci, agreed, missed, extra = compare(ours, theirs)
            print(f"{name:<16} {bases:>9} {cold:>7.2f} {index_s:>7.2f} {warm:>7.2f} {rf_s:>6.2f} "
                  f"{rf_s / cold:>6.1f}x {len(ours):>4} {n_loci:>7} {agreed:>5} {len(extra):>9}")
            notes += [f"{name}: ResFinder only: {m}" for m in missed]
            notes += [f"{name}: ours only: {e}" for e in extra]
    if notes:
        print()
        print("\n".join(notes))
    else:
        print("\nFull agreement with ResFinder on every genome.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
