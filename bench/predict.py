"""Benchmark our predictor against ResFinder 4.3 (BLAST mode) on Debian's example genomes.

Run from the repository root with the project venv:  ``python bench/predict.py``

For every genome of ``kleborate-examples`` (species ``klebsiella``) and every assembled
isolate of ``resfinder-example`` (species ``escherichia coli``), in two modes — acquired
genes only, and with point mutations and the phenotype table — it times
* ours, cold: index caches cleared, so the time includes building the allele and
  species indexes, and ours warm (indexes cached, as in a warm Lambda container);
* ResFinder 4.3 with the system python3 and blastn (``-acq -t 0.9 -l 0.6``, our
  default thresholds, plus ``-c -s SPECIES`` with the same ``db_pointfinder``);
and compares: gene loci (a ResFinder locus — its rows at one contig position — is
"agreed" when we call one of its genes at an overlapping position), the set of point
mutations (``PointFinder_results.txt``) and the set of antibiotics predicted Resistant
(ResFinder's JSON phenotypes).

It prints, never asserts, and exits 0 even when something is missing.
"""

from __future__ import annotations

import gzip
import json
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

from chalicelib.jobs.params import PredictParams  # noqa: E402
from chalicelib.prediction import acquired as predictor  # noqa: E402
from chalicelib.prediction import pointfinder, pointfinder_db  # noqa: E402
from chalicelib.prediction.fasta import FastaReader  # noqa: E402
from chalicelib.prediction.resfinder_db import DatabaseError, db_dir, load_db  # noqa: E402

SYSTEM_PYTHON = "/usr/bin/python3"
RESFINDER_SCRIPT = shutil.which("run_resfinder.py") or "/usr/bin/run_resfinder.py"
GENOME_SUFFIXES = (".fna", ".fa", ".fasta", ".fas")
EXAMPLES = Path("/usr/share/doc/resfinder/examples/data")


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


@dataclass
class Run:
    """One predictor run on one genome in one mode."""

    seconds: float
    calls: list[Call]
    mutations: set[str]
    resistant: set[str]
    index_seconds: float = 0.0
    warm_seconds: float = 0.0


def run_ours(fasta: Path, species: str) -> Run:
    """Cold (every index cache cleared: the time includes building them) and warm runs."""
    db = load_db()
    params = PredictParams(species=species)
    predictor.clear_index_cache()
    pointfinder.clear_index_cache()
    t0 = time.perf_counter()
    with open(fasta, "rb") as fh:
        pred = predictor.predict(FastaReader(fh, name=fasta.name), params, db=db)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    with open(fasta, "rb") as fh:
        predictor.predict(FastaReader(fh, name=fasta.name), params, db=db)
    warm = time.perf_counter() - t0
    calls = [Call(g.gene, g.contig, g.start, g.end, g.identity, g.coverage) for g in pred.genes]
    mutations = {m.name for m in pred.point.mutations} if pred.point else set()
    return Run(cold, calls, mutations, set(pred.resistant), pred.index_seconds, warm)


def run_resfinder(fasta: Path, workdir: Path, blastn: str, species: str | None, point_db: Path) -> tuple[Run | None, str]:
    """ResFinder 4.3 (BLAST): `-acq`, plus `-c -s SPECIES` with a species; (run or None, error)."""
    outdir = workdir / f"rf_{fasta.stem}_{'point' if species else 'acq'}"
    cmd = [
        SYSTEM_PYTHON, RESFINDER_SCRIPT, "-ifa", str(fasta), "-o", str(outdir), "-acq",
        "-t", "0.9", "-l", "0.6", "-db_res", db_dir(), "-b", blastn,
    ]
    if species:
        cmd += ["-c", "-s", species, "-db_point", str(point_db)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, check=False)
    seconds = time.perf_counter() - t0
    tab = outdir / "ResFinder_results_tab.txt"
    if proc.returncode != 0 or not tab.is_file():
        return None, (proc.stderr or proc.stdout)[-500:]
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
    mutations: set[str] = set()
    pf = outdir / "PointFinder_results.txt"
    if species and pf.is_file():
        mutations = {line.split("\t")[0] for line in pf.read_text().splitlines()[1:] if line.strip()}
    resistant: set[str] = set()
    for doc in outdir.glob("*.json"):
        phenotypes = json.loads(doc.read_text()).get("phenotypes", {})
        resistant |= {k for k, v in phenotypes.items() if v.get("amr_resistant")}
    return Run(seconds, calls, mutations, resistant), ""


def unpacked_point_db(dest: Path) -> Path:
    """ResFinder reads plain files; Debian ships several PointFinder files gzip-compressed."""
    shutil.copytree(pointfinder_db.db_dir(), dest)
    for packed in dest.rglob("*.gz"):
        with gzip.open(packed, "rb") as src, open(packed.with_suffix(""), "wb") as out:
            shutil.copyfileobj(src, out)
        packed.unlink()
    return dest


def find_isolates() -> list[Path]:
    """resfinder-example's assembled isolates (E. coli)."""
    return sorted(p for p in EXAMPLES.glob("test_isolate_*.fa*") if p.name.endswith((".fa", ".fa.gz")))


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
    genomes = [(g, "klebsiella", "klebsiella") for g in find_genomes()]
    genomes += [(g, "escherichia_coli", "escherichia coli") for g in find_isolates()]
    if not genomes:
        print("kleborate-examples / resfinder-example are not installed; nothing to benchmark.")
        return 0
    try:
        load_db()
        pointfinder_db.load_db()
    except DatabaseError as exc:
        print(f"Database unavailable: {exc}")
        return 0
    blastn = shutil.which("blastn")
    have_rf = Path(RESFINDER_SCRIPT).is_file() and Path(SYSTEM_PYTHON).is_file() and blastn is not None
    if not have_rf:
        print("ResFinder 4.3 (resfinder package) or blastn (ncbi-blast+) is missing; timing ours only.")
    print("mode acq = acquired genes (ResFinder -acq); point = + point mutations and phenotypes "
          "(ResFinder -acq -c -s SPECIES).")
    print("ours s = cold run incl. index builds; warm s = indexes cached (a warm Lambda container); "
          "speedup = RF s / ours s, cold and warm.")
    print("genes = loci agreed / ResFinder loci (+ ours only); mutations, resistant: same sets as ResFinder?")
    header = (f"{'genome':<16} {'mode':<5} {'bases':>9} {'ours s':>7} {'warm s':>7} {'RF s':>6} {'cold x':>7} {'warm x':>7} "
              f"{'genes':>9} {'mutations':>13} {'resistant':>13}")
    print(header)
    print("-" * len(header))
    notes: list[str] = []
    ratios: list[float] = []
    warm_ratios: list[float] = []
    with tempfile.TemporaryDirectory(prefix="amr-bench-") as tmp:
        work = Path(tmp)
        point_db = unpacked_point_db(work / "db_pointfinder")
        for g, key, rf_species in genomes:
            name = genome_name(g)
            fasta = decompress(g, work / f"{name}.fna")
            with open(fasta, "rb") as fh:
                bases = sum(len(s) for _, s in FastaReader(fh, name=fasta.name))
            for mode, species in (("acq", "other"), ("point", key)):
                ours = run_ours(fasta, species)
                theirs, err = (
                    run_resfinder(fasta, work, blastn, rf_species if mode == "point" else None, point_db)
                    if have_rf else (None, "")
                )
                row = f"{name:<16} {mode:<5} {bases:>9} {ours.seconds:>7.2f} {ours.warm_seconds:>7.2f} "
                if theirs is None:
                    if have_rf:
                        notes.append(f"{name} {mode}: ResFinder failed: {err}")
                    print(row + f"{'-':>6} {'-':>7} {'-':>7} {len(ours.calls):>9} {len(ours.mutations):>13} {'-':>13}")
                    continue
                n_loci, agreed, missed, extra = compare(ours.calls, theirs.calls)
                ratio = theirs.seconds / ours.seconds
                ratios.append(ratio)
                same_mut = "yes" if ours.mutations == theirs.mutations else "no"
                same_res = "yes" if ours.resistant == theirs.resistant else "no"
                warm = theirs.seconds / max(ours.warm_seconds, 1e-3)
                warm_ratios.append(warm)
                print(row + f"{theirs.seconds:>6.2f} {ratio:>6.1f}x {warm:>6.0f}x {f'{agreed}/{n_loci}+{len(extra)}':>9} "
                      f"{f'{same_mut} ({len(ours.mutations)})':>13} {f'{same_res} ({len(ours.resistant)})':>13}")
                notes += [f"{name} {mode}: ResFinder only gene: {m}" for m in missed]
                notes += [f"{name} {mode}: ours only gene: {e}" for e in extra]
                if mode == "point":
                    notes += [f"{name}: ResFinder only mutation: {m}" for m in sorted(theirs.mutations - ours.mutations)]
                    notes += [f"{name}: ours only mutation: {m}" for m in sorted(ours.mutations - theirs.mutations)]
                notes += [f"{name} {mode}: ResFinder only resistant: {m}" for m in sorted(theirs.resistant - ours.resistant)]
                notes += [f"{name} {mode}: ours only resistant: {m}" for m in sorted(ours.resistant - theirs.resistant)]
    if ratios:
        print(f"\nspeedup cold: min {min(ratios):.1f}x, median {sorted(ratios)[len(ratios) // 2]:.1f}x; "
              f"warm: min {min(warm_ratios):.0f}x (target >= 20x in every row)")
    print()
    print("\n".join(notes) if notes else "Full agreement with ResFinder on every genome and mode.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
