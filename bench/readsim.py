"""A small seeded Illumina-like paired-read simulator (tests and the reads benchmark).

Why our own: the benchmark needs reads from known genomes at a chosen depth, and the tests
need synthetic pairs with a known truth (a gene at 30x, one at 3x, a mutation at 50 %
allele fraction); a seeded simulator makes both reproducible to the read. Fragments are
drawn uniformly along each sequence with a normally distributed length; mate 1 reads the
fragment's start forwards, mate 2 its end on the other strand; bases are substituted at
`error_rate` (uniformly; no indel errors, like Illumina); qualities are constant.

Run as a script to write a gzip pair: ``python bench/readsim.py GENOME.fa OUT_PREFIX
[--depth 50] [--length 150] [--insert 350] [--error-rate 0.005] [--seed 1]``.
"""
from __future__ import annotations

import argparse
import gzip
import random
import sys
from pathlib import Path
from typing import IO, Iterable, Iterator

_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def revcomp(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


def simulate_pairs(
    sequences: Iterable[tuple[str, str]],
    *,
    depth: float,
    length: int = 150,
    insert: int = 350,
    insert_sd: int = 30,
    error_rate: float = 0.005,
    seed: int = 1,
    prefix: str = "sim",
) -> Iterator[tuple[str, str, str]]:
    """Yield (name, mate1, mate2) pairs covering each sequence at about `depth`."""
    rng = random.Random(seed)
    n = 0
    for _, seq in sequences:
        seq = seq.upper()
        if len(seq) < length:
            continue
        pairs = max(1, round(depth * len(seq) / (2 * length)))
        for _ in range(pairs):
            frag = min(len(seq), max(length, int(rng.gauss(insert, insert_sd))))
            start = rng.randint(0, len(seq) - frag)
            fragment = seq[start : start + frag]
            if rng.random() < 0.5:
                fragment = revcomp(fragment)
            n += 1
            yield f"{prefix}{n}", _errors(fragment[:length], error_rate, rng), _errors(
                revcomp(fragment)[:length], error_rate, rng
            )


def _errors(read: str, rate: float, rng: random.Random) -> str:
    """Substitutions at `rate` per base; the gaps between errors are drawn geometrically,
    so a read costs one or two random numbers, not one per base."""
    if rate <= 0:
        return read
    i = int(rng.expovariate(rate))
    if i >= len(read):
        return read
    out = list(read)
    while i < len(out):
        out[i] = rng.choice([b for b in "ACGT" if b != out[i]])
        i += 1 + int(rng.expovariate(rate))
    return "".join(out)


def fastq_records(pairs: Iterable[tuple[str, str, str]], mate: int) -> Iterator[str]:
    """FASTQ text of one mate of each pair (names `name/1`, `name/2`)."""
    for name, r1, r2 in pairs:
        seq = r1 if mate == 1 else r2
        yield f"@{name}/{mate}\n{seq}\n+\n{'I' * len(seq)}\n"


def write_pair(pairs: Iterable[tuple[str, str, str]], out1: IO[str], out2: IO[str]) -> int:
    count = 0
    for name, r1, r2 in pairs:
        out1.write(f"@{name}/1\n{r1}\n+\n{'I' * len(r1)}\n")
        out2.write(f"@{name}/2\n{r2}\n+\n{'I' * len(r2)}\n")
        count += 1
    return count


def read_fasta(path: Path) -> list[tuple[str, str]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    records: list[tuple[str, str]] = []
    name, parts = None, []
    with opener(path, "rt") as fh:  # type: ignore[operator]
        for line in fh:
            line = line.strip()
            if line.startswith(">"):
                if name is not None:
                    records.append((name, "".join(parts)))
                name, parts = line[1:].split()[0], []
            elif line:
                parts.append(line)
    if name is not None:
        records.append((name, "".join(parts)))
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("genome", type=Path)
    parser.add_argument("prefix")
    parser.add_argument("--depth", type=float, default=50.0)
    parser.add_argument("--length", type=int, default=150)
    parser.add_argument("--insert", type=int, default=350)
    parser.add_argument("--error-rate", type=float, default=0.005)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    pairs = simulate_pairs(read_fasta(args.genome), depth=args.depth, length=args.length, insert=args.insert,
                           error_rate=args.error_rate, seed=args.seed)
    with gzip.open(f"{args.prefix}_R1.fastq.gz", "wt", compresslevel=1) as o1, \
            gzip.open(f"{args.prefix}_R2.fastq.gz", "wt", compresslevel=1) as o2:
        n = write_pair(pairs, o1, o2)
    print(f"{n} pairs -> {args.prefix}_R1.fastq.gz, {args.prefix}_R2.fastq.gz", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
