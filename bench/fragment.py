"""Cut a genome into a draft assembly of many contigs (benchmarks of fragmented assemblies).

Why: the speed and parity benchmarks need drafts of hundreds of contigs, as short-read
assemblers produce them, from genomes whose truth is known (the `kleborate-examples`
complete genomes), and a gene split across two contigs (ResFinder reports the mutations of
each part). Cuts are drawn at seeded random positions with a mean contig length; with
`--split GENE` (a PointFinder gene of `--species`) one more cut is made inside every copy
of that gene, so the split is guaranteed whatever the seed. Contigs are named
`contig_1`, `contig_2`, ... in genome order; no bases are lost or changed.

    python bench/fragment.py GENOME.fna[.xz|.gz] OUT.fna [--contigs 500] [--seed 1]
        [--species klebsiella --split acrR]
"""

from __future__ import annotations

import argparse
import gzip
import lzma
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def read_fasta(path: Path) -> list[tuple[str, str]]:
    """All records of a plain, gzip or xz FASTA file."""
    opener = lzma.open if path.name.endswith(".xz") else gzip.open if path.name.endswith(".gz") else open
    records: list[tuple[str, str]] = []
    name, parts = "", []
    with opener(path, "rt") as fh:  # type: ignore[operator]
        for line in fh:
            line = line.strip()
            if line.startswith(">"):
                if name:
                    records.append((name, "".join(parts)))
                name, parts = line[1:].split()[0], []
            elif line:
                parts.append(line)
    if name:
        records.append((name, "".join(parts)))
    return records


def gene_cuts(records: list[tuple[str, str]], species: str, gene: str) -> dict[int, list[int]]:
    """Record index -> positions in the middle of every copy of a PointFinder gene."""
    import mappy

    from chalicelib.prediction import pointfinder_db

    db = pointfinder_db.load_db().load(species)
    refs = [g for g in db.genes if g.gene == gene or g.display == gene]
    if not refs:
        raise SystemExit(f"{gene} is not a PointFinder gene of {species}")
    cuts: dict[int, list[int]] = {}
    for ref in refs:
        aligner = mappy.Aligner(seq=ref.sequence, preset="asm20")
        for i, (_, seq) in enumerate(records):
            for hit in aligner.map(seq):
                if hit.mlen > 0.5 * len(ref.sequence):
                    cuts.setdefault(i, []).append((hit.q_st + hit.q_en) // 2)
    return cuts


def fragment(
    records: list[tuple[str, str]], contigs: int, seed: int, forced: dict[int, list[int]] | None = None
) -> Iterator[tuple[str, str]]:
    """Cut the records into about `contigs` pieces (seeded), plus the forced cuts."""
    rng = random.Random(seed)
    total = sum(len(s) for _, s in records)
    n = 0
    for i, (_, seq) in enumerate(records):
        share = max(0, round(contigs * len(seq) / total) - 1)
        cuts = set(rng.sample(range(1, len(seq)), min(share, len(seq) - 1))) if len(seq) > 1 else set()
        cuts.update((forced or {}).get(i, []))
        edges = [0, *sorted(c for c in cuts if 0 < c < len(seq)), len(seq)]
        for lo, hi in zip(edges, edges[1:], strict=False):
            n += 1
            yield f"contig_{n}", seq[lo:hi]


def write_fasta(records: Iterator[tuple[str, str]], out: IO[str], width: int = 80) -> int:
    n = 0
    for name, seq in records:
        n += 1
        out.write(f">{name}\n")
        for i in range(0, len(seq), width):
            out.write(seq[i : i + width] + "\n")
    return n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("genome", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--contigs", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--species", default="klebsiella")
    parser.add_argument("--split", action="append", default=[], help="a PointFinder gene to cut in two")
    args = parser.parse_args()
    records = read_fasta(args.genome)
    forced: dict[int, list[int]] = {}
    for gene in args.split:
        for i, positions in gene_cuts(records, args.species, gene).items():
            forced.setdefault(i, []).extend(positions)
    with open(args.out, "w") as out:
        n = write_fasta(fragment(records, args.contigs, args.seed, forced), out)
    print(f"{args.out}: {n} contigs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
