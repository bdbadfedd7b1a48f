"""Typing parity and cost (design §20): ours against Kleborate 3.2.4 and PlasmidFinder 3.0.3.

Run from the repository root with the project venv:  ``python bench/typing_parity.py
[--refenv DIR] [FASTA ...]`` (default: the four ``kleborate-examples`` genomes).

In one run, on the same files:
* MLST: every shipped scheme typed by us (each scheme asked for by name) and by Kleborate
  3.2.4 (``-m klebsiella_pneumo_complex__mlst,klebsiella_oxytoca_complex__mlst,
  escherichia__mlst_achtman,escherichia__mlst_pasteur``): ST and every allele, marks
  included. Typing a Klebsiella genome with the E. coli and K. oxytoca schemes is how novel
  (``*``) and missing (``-``) alleles get compared without an E. coli genome in Debian.
* Replicons: ours against ``python -m plasmidfinder`` (blastn) on the same PlasmidFinder
  files (staramr 0.12.3's copy, ``make typing-db``) at 95 % identity and 60 % coverage:
  (replicon, contig, start, end) sets.
* Cost: the genome job's prediction (``acquired.predict``, warm indexes) with and without
  typing, best of three, and the ratio; plus which scheme a job without species reports.

The reference tools live in their own virtualenv (``--refenv``, default
``build/refenv-typing``, created with ``kleborate==3.2.4 kaptive==3.1.0 plasmidfinder==3.0.3``
when missing — Kleborate 3.2.4 does not import with a newer kaptive); minimap2 and blastn
come from Debian (``make debs-bench``). It prints, never asserts.
"""

from __future__ import annotations

import argparse
import csv
import json
import lzma
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import typing_db as fetch_typing_db  # noqa: E402  (scripts/typing_db.py)

from chalicelib.jobs.params import PredictParams  # noqa: E402
from chalicelib.prediction import acquired, typescan  # noqa: E402
from chalicelib.prediction.fasta import FastaReader  # noqa: E402
from chalicelib.prediction.typing_db import load_db  # noqa: E402

EXAMPLES = Path("/usr/share/doc/kleborate/examples/data")
REFERENCE_PINS = ("kleborate==3.2.4", "kaptive==3.1.0", "plasmidfinder==3.0.3")
KLEBORATE_MODULES = {
    "klebsiella_pneumo_complex": "klebsiella_pneumo_complex__mlst",
    "klebsiella_oxytoca_complex": "klebsiella_oxytoca_complex__mlst",
    "escherichia_achtman": "escherichia__mlst_achtman",
    "escherichia_pasteur": "escherichia__mlst_pasteur",
}


def ensure_refenv(path: Path) -> Path:
    """The reference tools' virtualenv (created on first use)."""
    if not (path / "bin" / "kleborate").exists():
        print(f"creating {path} with {' '.join(REFERENCE_PINS)} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        subprocess.run([str(path / "bin" / "pip"), "install", "--quiet", *REFERENCE_PINS], check=True)
    return path


def genomes(paths: list[str], workdir: Path) -> list[Path]:
    """The given FASTA files, or the decompressed kleborate-examples genomes."""
    if paths:
        return [Path(p) for p in paths]
    out = []
    for xz in sorted(EXAMPLES.glob("*.fna.xz")):
        target = workdir / xz.name.removesuffix(".xz")
        target.write_bytes(lzma.decompress(xz.read_bytes()))
        out.append(target)
    if not out:
        print("no genomes: install kleborate-examples (make debs-bench) or name FASTA files", file=sys.stderr)
    return out


def read_contigs(path: Path) -> list[tuple[str, str]]:
    with path.open("rb") as fh:
        return list(FastaReader(fh, name=path.name))


def run_kleborate(refenv: Path, genome: Path, workdir: Path) -> tuple[dict[str, dict[str, str]], float]:
    """Kleborate's ST and alleles per scheme (our scheme names), and its wall time."""
    out = workdir / f"kleborate-{genome.stem}"
    modules = ",".join(KLEBORATE_MODULES.values())
    env = dict(os.environ, PATH=f"{refenv / 'bin'}:{os.environ.get('PATH', '')}")
    t0 = time.perf_counter()
    subprocess.run(
        [str(refenv / "bin" / "kleborate"), "-a", str(genome), "-o", str(out), "-m", modules],
        check=True,
        capture_output=True,
        env=env,
    )
    seconds = time.perf_counter() - t0
    table = next(out.glob("*_output.txt"))
    with table.open() as fh:
        row = next(csv.DictReader(fh, delimiter="\t"))
    result: dict[str, dict[str, str]] = {}
    for scheme, module in KLEBORATE_MODULES.items():
        prefix = f"{module}__"
        result[scheme] = {k[len(prefix) :]: v for k, v in row.items() if k.startswith(prefix)}
    return result, seconds


def run_plasmidfinder(refenv: Path, genome: Path, db: Path, workdir: Path) -> tuple[set[tuple[str, ...]], float]:
    """PlasmidFinder 3.0.3 (blastn) hits as (name, contig, start, end), and its wall time."""
    out = workdir / f"plasmidfinder-{genome.stem}"
    out.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    subprocess.run(
        [str(refenv / "bin" / "python"), "-m", "plasmidfinder", "-i", str(genome), "-o", str(out), "-p", str(db)]
        + ["-t", "0.95", "-l", "0.60", "-q", "-j", str(out / "out.json"), "-mp", shutil.which("blastn") or "blastn"],
        check=True,
        capture_output=True,
        cwd=out,
    )
    seconds = time.perf_counter() - t0
    data = json.loads((out / "out.json").read_text())
    hits = {
        (r["name"], r["query_id"].split()[0], str(r["query_start_pos"]), str(r["query_end_pos"]))
        for r in data.get("seq_regions", {}).values()
    }
    return hits, seconds


def best_of(n: int, fn: Any) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def job_seconds(contigs: list[tuple[str, str]], typing: bool) -> float:
    """The genome job's prediction time (warm indexes), with or without typing."""
    params = PredictParams(species="klebsiella")
    if typing:
        return best_of(3, lambda: acquired.predict(contigs, params, typing=True))
    return best_of(3, lambda: acquired.predict(contigs, params, typing=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refenv", type=Path, default=ROOT / "build" / "refenv-typing")
    parser.add_argument("fasta", nargs="*")
    args = parser.parse_args()
    fetch_typing_db.build(fetch_typing_db.DEFAULT_OUT)
    db = load_db(fetch_typing_db.DEFAULT_OUT)
    refenv = ensure_refenv(args.refenv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-typing-"))
    mlst_rows: list[list[str]] = []
    replicon_rows: list[list[str]] = []
    time_rows: list[list[str]] = []
    agree = total = 0
    try:
        files = genomes(args.fasta, workdir)
        acquired.get_aligner()  # warm, as a warm Lambda container
        for genome in files:
            contigs = read_contigs(genome)
            ours = typescan.type_contigs(contigs, None, db=db, schemes=list(KLEBORATE_MODULES))
            chosen = typescan.type_contigs(contigs, None, db=db)
            theirs, kleborate_s = run_kleborate(refenv, genome, workdir)
            for call in ours.mlst:
                ref = theirs[call.scheme]
                ref_alleles = {locus: ref.get(locus, "?") for locus in call.alleles}
                same = call.st == ref.get("ST") and call.alleles == ref_alleles
                agree += same
                total += 1
                mlst_rows.append(
                    [
                        genome.stem,
                        call.scheme,
                        call.st,
                        ref.get("ST", "?"),
                        " ".join(call.alleles.values()),
                        " ".join(ref_alleles.values()),
                        "yes" if same else "NO",
                    ]
                )
            pf_hits, pf_s = run_plasmidfinder(refenv, genome, fetch_typing_db.DEFAULT_OUT / "plasmidfinder", workdir)
            our_hits = {(p.name, p.contig, str(p.start), str(p.end)) for p in ours.plasmids}
            replicon_rows.append(
                [
                    genome.stem,
                    ", ".join(sorted(f"{n}@{c}:{s}" for n, c, s, _ in our_hits)) or "-",
                    ", ".join(sorted(f"{n}@{c}:{s}" for n, c, s, _ in pf_hits)) or "-",
                    "yes" if our_hits == pf_hits else "NO",
                ]
            )
            base = job_seconds(contigs, typing=False)
            with_typing = job_seconds(contigs, typing=True)
            time_rows.append(
                [
                    genome.stem,
                    f"{base:.3f}",
                    f"{with_typing:.3f}",
                    f"{100 * (with_typing - base) / base:+.0f} %",
                    f"{kleborate_s:.1f}",
                    f"{pf_s:.1f}",
                    " / ".join(f"{c.scheme} {c.st}" for c in chosen.mlst) or "none",
                ]
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    versions = db.versions()
    print(f"MLST data: {versions['mlst']}; PlasmidFinder data: {versions['plasmidfinder']}")
    print("\nMLST: ours vs Kleborate 3.2.4 (alleles in scheme order)")
    _table(["genome", "scheme", "ST ours", "ST Kleborate", "alleles ours", "alleles Kleborate", "same"], mlst_rows)
    print(f"\n{agree}/{total} scheme typings identical")
    print("\nReplicons: ours vs PlasmidFinder 3.0.3 (blastn), name@contig:start")
    _table(["genome", "ours", "PlasmidFinder", "same"], replicon_rows)
    print("\nTime: genome job prediction (warm, best of 3) without and with typing; the reference tools' wall time")
    _table(
        ["genome", "job s", "job+typing s", "added", "Kleborate s", "PlasmidFinder s", "no species: reported"],
        time_rows,
    )


def _table(header: list[str], rows: list[list[str]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
