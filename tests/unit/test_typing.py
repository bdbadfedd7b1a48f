"""MLST (Kleborate's semantics) and plasmid replicons (PlasmidFinder's) on small made-up
schemes and genomes: exact STs, novel, truncated, split and missing loci, replicon hits,
gene locations and the choice of scheme by species."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from chalicelib.prediction import mlst, replicons, typescan, typing_db
from chalicelib.prediction.replicons import RepliconHit

LOCI = ("abcA", "bcdB", "cdeC", "defD")


def _dna(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("ACGT") for _ in range(n))


def _mutate(seq: str, positions: list[int]) -> str:
    out = list(seq)
    for p in positions:
        out[p] = {"A": "C", "C": "G", "G": "T", "T": "A"}[out[p]]
    return "".join(out)


def _revcomp(seq: str) -> str:
    return seq.translate(str.maketrans("ACGT", "TGCA"))[::-1]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A scheme of four loci (alleles 1-3 each), two profiles, one replicon, on disk."""
    rng = random.Random(25)
    root = tmp_path_factory.mktemp("typing-db")
    alleles: dict[str, dict[int, str]] = {}
    folder = root / "mlst" / "testus_scheme"
    folder.mkdir(parents=True)
    for i, locus in enumerate(LOCI):
        base = _dna(rng, 450)
        alleles[locus] = {1: base, 2: _mutate(base, [40 + i, 200, 333]), 3: _mutate(base, [100, 260 + i])}
        text = "".join(f">{locus}_{n}\n{seq}\n" for n, seq in alleles[locus].items())
        (folder / f"{locus}.fasta").write_text(text)
    (folder / "profiles.tsv").write_text(
        "ST\t" + "\t".join(LOCI) + "\tclonal_complex\n" + "7\t1\t1\t1\t1\tCC7\n" + "9\t2\t1\t3\t1\t\n"
    )
    pf = root / "plasmidfinder"
    pf.mkdir()
    (pf / "config").write_text("#db_prefix\tname\tdescription\nenterobacteriales\tEnterobacteriales\tE\n")
    replicon = _dna(rng, 300)
    variant = _mutate(replicon, [150])
    (pf / "enterobacteriales.fsa").write_text(
        f">IncT(X)_1__AB000001\n{replicon}\n>IncT(Y)_1__AB000002\n{variant[:250] + _dna(rng, 50)}\n"
    )
    return {"root": root, "alleles": alleles, "replicon": replicon, "rng": rng}


def _db(world: dict[str, object]) -> typing_db.TypingDB:
    return typing_db.load_db(world["root"])  # type: ignore[arg-type]


def _genome(world: dict[str, object], pieces: dict[str, str], *, plasmid: bool = True) -> list[tuple[str, str]]:
    """A 'chromosome' with the given locus sequences 3 kb apart (the second one reversed),
    and a 'plasmid' contig carrying the replicon."""
    rng = world["rng"]
    assert isinstance(rng, random.Random)
    chunks = [_dna(rng, 3000)]
    for n, seq in enumerate(pieces.values()):
        chunks += [_revcomp(seq) if n == 1 else seq, _dna(rng, 3000)]
    contigs = [("chr", "".join(chunks))]
    if plasmid:
        contigs.append(("pl1", _dna(rng, 2000) + str(world["replicon"]) + _dna(rng, 2000)))
    return contigs


def _st(world: dict[str, object], numbers: dict[str, int]) -> dict[str, str]:
    alleles = world["alleles"]
    assert isinstance(alleles, dict)
    return {locus: alleles[locus][n] for locus, n in numbers.items()}


def _type(world: dict[str, object], contigs: list[tuple[str, str]]) -> typescan.TypingResult:
    """The made-up scheme is no shipped species complex: it is typed by name."""
    return typescan.type_contigs(
        contigs, None, db=_db(world), segment_length=4000, segment_overlap=600, schemes=["testus_scheme"]
    )


def test_exact_profile_is_its_st_with_clonal_complex(world: dict[str, object]) -> None:
    result = _type(world, _genome(world, _st(world, dict.fromkeys(LOCI, 1))))
    call = result.mlst[0]
    assert call.st == "ST7"
    assert call.clonal_complex == "CC7"
    assert call.alleles == dict.fromkeys(LOCI, "1")
    rev = call.loci[1].hit
    assert rev is not None and rev.strand == "-" and rev.exact


def test_second_profile_and_positions(world: dict[str, object]) -> None:
    contigs = _genome(world, _st(world, {"abcA": 2, "bcdB": 1, "cdeC": 3, "defD": 1}))
    call = _type(world, contigs).mlst[0]
    assert call.st == "ST9"
    assert call.clonal_complex is None  # ST9 has an empty clonal complex
    hit = call.loci[0].hit
    assert hit is not None
    assert contigs[0][1][hit.start - 1 : hit.end] == _st(world, {"abcA": 2})["abcA"]


def test_novel_allele_is_marked_and_counts_as_locus_variant(world: dict[str, object]) -> None:
    pieces = _st(world, dict.fromkeys(LOCI, 1))
    pieces["cdeC"] = _mutate(pieces["cdeC"], [10, 300])  # two SNPs from allele 1: no allele matches
    call = _type(world, _genome(world, pieces)).mlst[0]
    assert call.alleles["cdeC"] == "1*"
    assert call.st == "ST7-1LV"
    hit = call.loci[2].hit
    assert hit is not None and not hit.exact and 99 < hit.identity < 100 and hit.coverage == 100


def test_truncated_locus_at_contig_end(world: dict[str, object]) -> None:
    pieces = _st(world, dict.fromkeys(LOCI, 1))
    contigs = _genome(world, {k: v for k, v in pieces.items() if k != "defD"})
    contigs.append(("frag", _dna(world["rng"], 500) + pieces["defD"][:400]))  # type: ignore[arg-type]
    call = _type(world, contigs).mlst[0]
    assert call.alleles["defD"] == "1*"  # 89 % of the allele, 100 % identical: inexact
    assert call.st == "ST7-1LV"
    contigs[-1] = ("frag", _dna(world["rng"], 500) + pieces["defD"][:300])  # type: ignore[arg-type]
    call = _type(world, contigs).mlst[0]
    assert call.alleles["defD"] == "-"  # 67 % < Kleborate's 80 % coverage: missing
    assert call.st == "ST7-1LV"


def test_locus_split_across_contigs_is_missing(world: dict[str, object]) -> None:
    pieces = _st(world, dict.fromkeys(LOCI, 1))
    contigs = _genome(world, {k: v for k, v in pieces.items() if k != "bcdB"})
    seq = pieces["bcdB"]
    contigs += [("left", _dna(world["rng"], 800) + seq[:225]), ("right", seq[225:] + _dna(world["rng"], 800))]  # type: ignore[arg-type]
    call = _type(world, contigs).mlst[0]
    assert call.alleles["bcdB"] == "-"
    assert call.st == "ST7-1LV"


def test_too_few_exact_matches_is_na(world: dict[str, object]) -> None:
    pieces = _st(world, dict.fromkeys(LOCI, 1))
    for locus in ("abcA", "bcdB"):
        pieces[locus] = _mutate(pieces[locus], [5, 400])
    call = _type(world, _genome(world, pieces)).mlst[0]
    assert call.st == "NA"
    assert call.clonal_complex is None
    assert call.alleles["abcA"] == "1*" and call.alleles["cdeC"] == "1"


def test_replicon_found_with_position_and_gene_location(world: dict[str, object]) -> None:
    contigs = _genome(world, _st(world, dict.fromkeys(LOCI, 1)))
    result = _type(world, contigs)
    assert [p.reference for p in result.plasmids] == ["IncT(X)_1__AB000001"]  # the variant is not 60 % covered
    hit = result.plasmids[0]
    assert (hit.name, hit.contig, hit.start, hit.end, hit.identity, hit.coverage) == (
        "IncT(X)",
        "pl1",
        2001,
        2300,
        100.0,
        100.0,
    )
    assert result.location("pl1") == {"kind": "plasmid", "replicons": ["IncT(X)"]}
    assert result.location("chr") == {"kind": "chromosome-like", "replicons": []}
    assert replicons.describe(result.location("pl1")) == "IncT(X) contig"


def _hit(
    ref: str, start: int, end: int, identity: float, coverage: float, database: str = "enterobacteriales"
) -> RepliconHit:
    return RepliconHit(ref.split("_")[0], ref, database, "", "c1", start, end, "+", identity, coverage, 100, 100)


def test_overlapping_replicons_keep_the_best_per_database_file() -> None:
    kept = replicons.resolve(
        [
            _hit("A_1", 100, 400, 99.0, 100.0),
            _hit("B_1", 150, 420, 100.0, 100.0),
            _hit("C_1", 100, 400, 98.0, 100.0, database="Inc18"),  # another file: not compared
            _hit("D_1", 500, 700, 96.0, 70.0),
            _hit("E_1", 500, 700, 96.0, 70.0),  # same place, same numbers: both kept
            _hit("B_1", 150, 420, 100.0, 100.0),  # the same alignment twice is one hit
        ]
    )
    assert [h.reference for h in kept] == ["C_1", "B_1", "D_1", "E_1"]


def test_scheme_choice_by_species() -> None:
    assert mlst.complexes_for_species("Klebsiella pneumoniae") == ("klebsiella_pneumo_complex",)
    assert mlst.complexes_for_species("Klebsiella variicola subsp. variicola") == ("klebsiella_pneumo_complex",)
    assert mlst.complexes_for_species("Klebsiella michiganensis") == ("klebsiella_oxytoca_complex",)
    assert mlst.complexes_for_species("Escherichia coli") == ("escherichia",)
    assert mlst.complexes_for_species("escherichia_coli") == ("escherichia",)
    assert mlst.complexes_for_species("klebsiella") == ("klebsiella_pneumo_complex", "klebsiella_oxytoca_complex")
    assert mlst.complexes_for_species("Staphylococcus aureus") == ()
    assert mlst.complexes_for_species(None) is None
    assert mlst.complexes_for_species("other") is None


def test_allele_numbers_as_kleborate_reads_them() -> None:
    assert typing_db.allele_number("gapA_12") == 12
    assert typing_db.allele_number("gapA12x") == 12
    assert typing_db.allele_number("gapA") == 0


def test_missing_data_names_the_place(tmp_path: Path) -> None:
    with pytest.raises(typing_db.TypingDataError, match="typing data not found"):
        typing_db.load_db(tmp_path)


def test_cli_shows_st_alleles_replicons_and_where_genes_sit() -> None:
    from amrcli.views import gene_rows, location_text, typing_rows

    doc = {
        "mlst": [{"scheme": "s", "label": "Scheme S", "st": "ST9-1LV", "alleles": {"abcA": "2", "bcdB": "1*"}}],
        "plasmids": [
            {
                "name": "IncT(X)",
                "identity": 100.0,
                "coverage": 99.5,
                "contig": "pl1",
                "start": 5,
                "end": 9,
                "strand": "+",
            }
        ],
        "genes": [{"gene": "blaKPC-2", "contig": "pl1", "location": {"kind": "plasmid", "replicons": ["IncT(X)"]}}],
    }
    mlst_rows, plasmid_rows = typing_rows(doc)
    assert mlst_rows == [["Scheme S", "ST9-1LV", "abcA(2) bcdB(1*)"]]
    assert plasmid_rows == [["IncT(X)", "100.0", "99.5", "pl1", "5-9+"]]
    assert gene_rows(doc)[0][-1] == "IncT(X) contig"
    assert location_text({"kind": "chromosome-like", "replicons": []}) == "chromosome-like"
    assert location_text(None) == ""


def test_representatives_reach_every_allele_with_few_sequences() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "fetch_typing_db", Path(__file__).parents[2] / "scripts" / "typing_db.py"
    )
    assert spec and spec.loader
    fetch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fetch)
    rng = random.Random(7)
    base, other = _dna(rng, 450), _dna(rng, 450)
    alleles = {"x_1": base, "x_2": _mutate(base, [100]), "x_3": other, "x_4": _mutate(other, [7, 300])}
    assert fetch.representatives(alleles) == ["x_1", "x_3"]  # one SNP away shares > 60 % of 15-mers
