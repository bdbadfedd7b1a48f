"""Benchmark our predictor against ResFinder 4.3 (BLAST mode) on Debian's example genomes.

Run from the repository root with the project venv:  ``python bench/predict.py
[--all | --assemblies | --reads]`` (default ``--all``).

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

Reads mode (``--reads``): ResFinder 4.3's read mode (KMA; ``-ifq R1 R2 -acq -c -s SPECIES``)
against ours (:mod:`chalicelib.prediction.reads`) on the example read pairs of
``resfinder-example`` (E. coli) and on 50x pairs simulated from the four
``kleborate-examples`` genomes with the seeded simulator ``bench/readsim.py``; each run is
a process of its own, so its peak RSS (``wait4``) is reported; genes, mutations and the
resistant set are compared as sets (reads have no contig positions).

It prints, never asserts, and exits 0 even when something is missing.
"""

from __future__ import annotations

import gzip
import json
import lzma
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


# --------------------------------------------------------------------------- reads mode

#: Depth of the simulated pairs: ``--depth N`` after ``--reads`` (20 and 50 in the README).
READ_DEPTH = int(sys.argv[sys.argv.index("--depth") + 1]) if "--depth" in sys.argv else 50
KMA = shutil.which("kma")


def reads_worker(paths: list[str], species: str) -> int:
    """Run ours on one read set in this (fresh) process and print the findings as JSON; the
    parent reads the process's peak RSS from wait4. Time = the prediction, cold (indexes
    built in it), as a new Lambda container would run it."""
    from chalicelib.prediction.reads import predictor as reads_mode

    db = load_db()
    names = [Path(p).name for p in paths]
    size = sum(Path(p).stat().st_size for p in paths)

    def once() -> tuple[Any, float]:
        t0 = time.perf_counter()
        handles = [open(p, "rb") for p in paths]
        try:
            pred = reads_mode.predict_streams(handles, names, size, params=PredictParams(species=species), db=db)
        finally:
            for h in handles:
                h.close()
        return pred, time.perf_counter() - t0

    pred, seconds = once()
    warm = once()[1] if size < 20_000_000 else seconds  # small sets: the warm-container time too
    print(json.dumps({
        "seconds": seconds, "warm": warm, "reads": pred.reads, "genes": sorted({g.gene for g in pred.genes}),
        "mutations": sorted({m.name for m in pred.point.mutations}) if pred.point else [],
        "resistant": sorted(pred.resistant), "depths": {g.gene: g.depth for g in pred.genes},
    }))
    return 0


def _measured(cmd: list[str], cwd: Path) -> tuple[float, int, str, int]:
    """(wall seconds, peak RSS in MB of the process and its children, stdout, return code)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        text = out.read().decode(errors="replace")
        if proc.returncode:
            text += err.read().decode(errors="replace")[-2000:]
    return seconds, usage.ru_maxrss // 1024, text, proc.returncode


def kma_point_db(dest: Path) -> Path:
    """The PointFinder database as ResFinder's read mode wants it: plain files plus a KMA
    index of every species (Debian ships FASTA only)."""
    point_db = unpacked_point_db(dest)
    for species_dir in point_db.iterdir():
        fsa = species_dir / f"{species_dir.name}.fsa"
        if fsa.is_file() and KMA:
            subprocess.run([KMA, "index", "-i", str(fsa), "-o", str(species_dir / species_dir.name)],
                           capture_output=True, check=False)
    return point_db


def run_resfinder_reads(r1: Path, r2: Path, workdir: Path, species: str, point_db: Path) -> dict[str, Any] | str:
    """ResFinder 4.3 read mode (KMA): `-ifq R1 R2 -acq -c -s SPECIES`; findings or the error."""
    outdir = workdir / f"rf_reads_{r1.name}"
    defaults = PredictParams()
    cmd = [SYSTEM_PYTHON, RESFINDER_SCRIPT, "-ifq", str(r1), str(r2), "-o", str(outdir), "-acq", "-c",
           "-t", str(defaults.min_identity), "-l", str(defaults.min_coverage), "-s", species, "-db_res", db_dir(), "-db_point", str(point_db), "-k", KMA or "kma"]
    seconds, rss, text, code = _measured(cmd, workdir)
    tab = outdir / "ResFinder_results_tab.txt"
    if code or not tab.is_file():
        return f"exit {code}: {text.strip()[-300:]}"
    # A gene can be listed once per database that holds it (OqxA is in two); compared as a set.
    genes = sorted({line.split("\t")[0] for line in tab.read_text().splitlines()[1:] if line.strip()})
    point = outdir / "PointFinder_results.txt"
    mutations = sorted(line.split("\t")[0] for line in point.read_text().splitlines()[1:]
                       if line.strip()) if point.is_file() else []
    resistant: set[str] = set()
    for doc in outdir.glob("*.json"):
        phenotypes = json.loads(doc.read_text()).get("phenotypes", {})
        resistant |= {k for k, v in phenotypes.items() if v.get("amr_resistant")}
    return {"seconds": seconds, "rss": rss, "genes": genes, "mutations": sorted(set(mutations)),
            "resistant": sorted(resistant)}


def simulate(genome: Path, prefix: Path, seed: int) -> tuple[Path, Path]:
    """A READ_DEPTH x gzip read pair from a genome with the seeded simulator (bench/readsim.py)."""
    from bench.readsim import read_fasta, simulate_pairs, write_pair

    r1, r2 = Path(f"{prefix}_R1.fastq.gz"), Path(f"{prefix}_R2.fastq.gz")
    pairs = simulate_pairs(read_fasta(genome), depth=READ_DEPTH, length=150, insert=350, error_rate=0.005,
                           seed=seed, prefix=prefix.name + "_")
    with gzip.open(r1, "wt", compresslevel=1) as o1, gzip.open(r2, "wt", compresslevel=1) as o2:
        write_pair(pairs, o1, o2)
    return r1, r2


def main_reads() -> int:
    """Reads mode: ResFinder 4.3 + KMA against ours on the example read pairs of
    resfinder-example (E. coli) and on 50x pairs simulated from kleborate-examples."""
    sets: list[tuple[str, Path | None, Path | None, Path | None, str, str]] = []
    for r1 in sorted(EXAMPLES.glob("test_isolate_*_1.fq.gz")):
        sets.append((r1.name[: -len("_1.fq.gz")], r1, Path(str(r1).replace("_1.fq.gz", "_2.fq.gz")), None,
                     "escherichia_coli", "escherichia coli"))
    sets += [(genome_name(g) + f" {READ_DEPTH}x", None, None, g, "klebsiella", "klebsiella") for g in find_genomes()]
    if not sets:
        print("resfinder-example / kleborate-examples are not installed; nothing to benchmark.")
        return 0
    have_rf = Path(RESFINDER_SCRIPT).is_file() and KMA is not None
    if not have_rf:
        print("ResFinder 4.3 (resfinder) or KMA (kma) is missing; timing ours only.")
    print(f"reads: ours = mappy short-read mapping + pileups, cold (indexes built in the run), one process per set;"
          f" RF = ResFinder 4.3 -ifq R1 R2 -acq -c -s SPECIES (KMA). Peak RSS of each process tree.")
    header = (f"{'reads':<22} {'pairs':>8} {'MB gz':>6} {'ours s':>7} {'warm s':>7} {'RF s':>7} {'x':>6} {'warm x':>7} "
              f"{'ours MB':>8} {'RF MB':>6} "
              f"{'genes':>7} {'mutations':>9} {'resistant':>9}")
    print(header)
    print("-" * len(header))
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="amr-bench-reads-") as tmp:
        work = Path(tmp)
        point_db = kma_point_db(work / "db_pointfinder") if have_rf else Path()
        for n, (name, r1, r2, genome, species, rf_species) in enumerate(sets):
            if genome is not None:
                fasta = decompress(genome, work / f"{genome_name(genome)}.fna")
                r1, r2 = simulate(fasta, work / genome_name(genome), seed=n + 1)
                fasta.unlink()
            assert r1 is not None and r2 is not None
            size_mb = (r1.stat().st_size + r2.stat().st_size) / 1e6
            seconds, rss, text, code = _measured(
                [sys.executable, str(Path(__file__).resolve()), "--reads-worker", species, str(r1), str(r2)], ROOT)
            if code:
                notes.append(f"{name}: ours failed: {text[-300:]}")
                continue
            ours = json.loads(text.strip().splitlines()[-1])
            theirs = run_resfinder_reads(r1, r2, work, rf_species, point_db) if have_rf else "not run"
            row = f"{name:<22} {ours['reads'] // 2:>8} {size_mb:>6.1f} {ours['seconds']:>7.2f} {ours['warm']:>7.2f} "
            if isinstance(theirs, str):
                notes.append(f"{name}: ResFinder: {theirs}")
                print(row + f"{'-':>7} {'-':>6} {'-':>7} {rss:>8} {'-':>6} {len(ours['genes']):>7} "
                      f"{len(ours['mutations']):>9} {'-':>9}")
                continue
            same = lambda k: "yes" if ours[k] == theirs[k] else "no"  # noqa: E731
            print(row + f"{theirs['seconds']:>7.2f} {theirs['seconds'] / ours['seconds']:>5.1f}x "
                  f"{theirs['seconds'] / ours['warm']:>6.1f}x {rss:>8} "
                  f"{theirs['rss']:>6} {same('genes') + ' ' + str(len(theirs['genes'])):>7} "
                  f"{same('mutations') + ' ' + str(len(theirs['mutations'])):>9} "
                  f"{same('resistant') + ' ' + str(len(theirs['resistant'])):>9}")
            for key in ("genes", "mutations", "resistant"):
                a, b = set(ours[key]), set(theirs[key])
                notes += [f"{name}: ResFinder only {key[:-1]}: {x}" for x in sorted(b - a)]
                notes += [f"{name}: ours only {key[:-1]}: {x}" for x in sorted(a - b)]
            if genome is not None:
                r1.unlink()
                r2.unlink()
    print()
    print("\n".join(notes) if notes else "Full agreement with ResFinder on every read set.")
    return 0


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--reads-worker":
        return reads_worker(sys.argv[3:], sys.argv[2])
    mode = sys.argv[1] if len(sys.argv) > 1 else "--all"
    if mode not in ("--all", "--assemblies", "--reads"):
        print("usage: bench/predict.py [--all | --assemblies | --reads]")
        return 2
    if mode != "--reads":
        main_assemblies()
    if mode != "--assemblies":
        print()
        main_reads()
    return 0


def main_assemblies() -> int:
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
