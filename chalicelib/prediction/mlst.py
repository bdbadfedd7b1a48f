"""Multi-locus sequence typing with Kleborate 3.2.4's semantics (design §20).

How a scheme is typed (``call_scheme``), step for step as ``kleborate/shared/mlst.py`` does:

* every allele of a locus that aligns to the assembly with >= 90 % identity over >= 80 % of
  the allele is a hit; a hit is *exact* when it covers the whole allele at 100 % identity;
* a locus' best hits are those of highest identity, then highest alignment score;
* the ST is the first profile (file order) matching the most loci by allele number;
* an allele is written as its number, ``N*`` when the best hit is inexact (a novel allele,
  or a locus truncated at a contig end but still >= 80 % covered), ``-`` when nothing hits
  (missing, or split across contigs so that no piece reaches 80 %);
* fewer exact matches to the profile than the scheme requires (3; 4 for Pasteur) -> ``NA``;
  otherwise ``ST{n}``, or ``ST{n}-{k}LV`` with ``k`` loci that are not exact matches to it.

Why it is fast: instead of aligning every allele (thousands per locus) to the genome, a few
representatives per locus find where the locus lies (``typescan``); there, an exact allele
is a substring of the contig window (a dictionary-free ``str.find`` per allele). Only a
locus without an exact allele is aligned allele by allele (minimap2, as Kleborate).

Which scheme (``schemes_for_species``): the detected or given species chooses the complex
as Kleborate's ``species_defs`` do; without a species every shipped scheme is typed and the
complex whose scheme has the most exact profile matches (and an ST) is reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import mappy

from chalicelib.prediction.typing_db import MIN_COVERAGE, MIN_IDENTITY, Scheme, TypingDB, allele_number

#: species complex -> its schemes (the first is the one a batch matrix shows)
FAMILIES: dict[str, tuple[str, ...]] = {
    "klebsiella_pneumo_complex": ("klebsiella_pneumo_complex",),
    "klebsiella_oxytoca_complex": ("klebsiella_oxytoca_complex",),
    "escherichia": ("escherichia_achtman", "escherichia_pasteur"),
}
#: species-name prefixes of each complex (Kleborate 3.2.4 ``shared/species_defs.py``)
SPECIES_PREFIXES: dict[str, tuple[str, ...]] = {
    "klebsiella_pneumo_complex": (
        "klebsiella pneumoniae",
        "klebsiella quasipneumoniae",
        "klebsiella variicola",
        "klebsiella quasivariicola",
        "klebsiella africana",
    ),
    "klebsiella_oxytoca_complex": (
        "klebsiella oxytoca",
        "klebsiella grimontii",
        "klebsiella michiganensis",
        "klebsiella pasteurii",
        "klebsiella huaxiensis",
        "klebsiella spallanzanii",
    ),
    "escherichia": ("escherichia",),
}
#: PointFinder species keys (the ``species`` job parameter) -> complexes they may mean
POINTFINDER_KEYS: dict[str, tuple[str, ...]] = {
    "escherichia_coli": ("escherichia",),
    "klebsiella": ("klebsiella_pneumo_complex", "klebsiella_oxytoca_complex"),
}
# minimap2 scoring of Kleborate's preset (map-ont): match, mismatch, gap open/extend (two pieces)
_A, _B, _Q, _E, _Q2, _E2 = 2, 4, 4, 2, 24, 1


@dataclass(frozen=True)
class Region:
    """A window of a contig where a locus lies (``offset``: 0-based start of ``seq``)."""

    contig: str
    offset: int
    seq: str


@dataclass(frozen=True)
class AlleleHit:
    """One allele aligned to the assembly."""

    allele: str
    number: int
    exact: bool
    identity: float  # percent
    coverage: float  # percent of the allele
    score: int
    contig: str
    start: int  # 1-based inclusive
    end: int
    strand: str


@dataclass(frozen=True)
class LocusCall:
    """A locus as reported: the allele written Kleborate's way and the hit behind it."""

    locus: str
    allele: str  # "3", "3*", "-"
    hit: AlleleHit | None

    def to_dict(self) -> dict[str, Any]:
        h = self.hit
        return {
            "locus": self.locus,
            "allele": self.allele,
            "exact": bool(h and h.exact),
            "closest": h.allele if h else None,
            "identity": round(h.identity, 2) if h else None,
            "coverage": round(h.coverage, 2) if h else None,
            "contig": h.contig if h else None,
            "start": h.start if h else None,
            "end": h.end if h else None,
            "strand": h.strand if h else None,
        }


@dataclass(frozen=True)
class MlstCall:
    """The typing of one scheme."""

    scheme: str
    label: str
    st: str  # "ST258", "ST258-1LV", "NA"
    clonal_complex: str | None
    loci: tuple[LocusCall, ...]
    exact_matches: int
    selected_by: str  # "species" or "best match"

    @property
    def alleles(self) -> dict[str, str]:
        return {c.locus: c.allele for c in self.loci}

    def to_dict(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "label": self.label,
            "st": self.st,
            "clonal_complex": self.clonal_complex,
            "alleles": self.alleles,
            "loci": [c.to_dict() for c in self.loci],
            "selected_by": self.selected_by,
        }


# --------------------------------------------------------------------------- hits


def _revcomp(seq: str) -> str:
    return seq.translate(str.maketrans("ACGTN", "TGCAN"))[::-1]


def exact_hits(alleles: dict[str, str], regions: Sequence[Region]) -> list[AlleleHit]:
    """Every allele found letter for letter in a region (either strand)."""
    hits: list[AlleleHit] = []
    for region in regions:
        rc = _revcomp(region.seq)
        n = len(region.seq)
        for name, seq in alleles.items():
            for strand, text in (("+", region.seq), ("-", rc)):
                at = text.find(seq)
                while at >= 0:
                    lo = at if strand == "+" else n - at - len(seq)
                    hits.append(
                        AlleleHit(
                            name,
                            allele_number(name),
                            True,
                            100.0,
                            100.0,
                            _A * len(seq),
                            region.contig,
                            region.offset + lo + 1,
                            region.offset + lo + len(seq),
                            strand,
                        )
                    )
                    at = text.find(seq, at + 1)
    return hits


def _score(h: Any) -> int:
    """minimap2's DP score of an alignment from its CIGAR (map-ont scoring, affine two-piece)."""
    m_cols = sum(length for length, op in h.cigar if op == 0)
    score = _A * h.mlen - _B * (m_cols - h.mlen)
    for length, op in h.cigar:
        if op in (1, 2):
            score -= min(_Q + length * _E, _Q2 + length * _E2)
    return int(score)


def aligned_hits(alleles: dict[str, str], regions: Sequence[Region]) -> list[AlleleHit]:
    """Every allele aligned to every region with minimap2 (Kleborate aligns the alleles to the
    assembly with the map-ont preset), kept at >= 90 % identity over >= 80 % of the allele."""
    hits: list[AlleleHit] = []
    for region in regions:
        aligner = mappy.Aligner(seq=region.seq, preset="map-ont")
        if not aligner:
            continue
        for name, seq in alleles.items():
            for h in aligner.map(seq):
                identity = 100.0 * h.mlen / h.blen if h.blen else 0.0
                coverage = 100.0 * (h.q_en - h.q_st) / len(seq)
                if identity < MIN_IDENTITY or coverage < MIN_COVERAGE:
                    continue
                exact = h.mlen == h.blen and h.q_en - h.q_st == len(seq)
                hits.append(
                    AlleleHit(
                        name,
                        allele_number(name),
                        exact,
                        identity,
                        coverage,
                        _score(h),
                        region.contig,
                        region.offset + h.r_st + 1,
                        region.offset + h.r_en,
                        "+" if h.strand >= 0 else "-",
                    )
                )
    return hits


def locus_hits(alleles: dict[str, str], regions: Sequence[Region]) -> list[AlleleHit]:
    """Exact hits when there are any (they are the best by identity), else aligned ones."""
    return exact_hits(alleles, regions) or aligned_hits(alleles, regions)


# --------------------------------------------------------------------------- Kleborate's logic


def best_hits(hits: Iterable[AlleleHit]) -> list[AlleleHit]:
    """Highest identity, then highest score; several when still tied."""
    hits = list(hits)
    if not hits:
        return []
    top = max(h.identity for h in hits)
    hits = [h for h in hits if h.identity == top]
    best = max(h.score for h in hits)
    return [h for h in hits if h.score == best]


def call_scheme(scheme: Scheme, hits_per_locus: dict[str, list[AlleleHit]], selected_by: str = "species") -> MlstCall:
    """Kleborate's ``run_single_mlst`` on the hits of each locus."""
    best = {locus: best_hits(hits_per_locus.get(locus, ())) for locus in scheme.loci}
    st, st_alleles, cc = 0, (0,) * len(scheme.loci), None
    # The first profile (file order) sharing the most allele numbers with the best hits,
    # counted through the per-locus index number -> profiles instead of profile by profile.
    counts: dict[int, int] = {}
    for i, locus in enumerate(scheme.loci):
        for number in {h.number for h in best[locus]}:
            for p in scheme.profiles_with(i, number):
                counts[p] = counts.get(p, 0) + 1
    if counts:
        top = max(counts.values())
        profile = scheme.profiles[min(p for p, n in counts.items() if n == top)]
        st, st_alleles, cc = profile.st, profile.alleles, profile.clonal_complex
    calls: list[LocusCall] = []
    exact_matches = lv = 0
    for locus, st_allele in zip(scheme.loci, st_alleles, strict=True):
        candidates = best[locus]
        matching = [h for h in candidates if h.number == st_allele]
        hit = matching[0] if matching else (min(candidates, key=lambda h: h.number) if candidates else None)
        if hit is None:
            text = "-"
        else:
            text = str(hit.number) if hit.exact else f"{hit.number}*"
        calls.append(LocusCall(locus, text, hit))
        if hit is not None and hit.exact and hit.number == st_allele:
            exact_matches += 1
        else:
            lv += 1
    if exact_matches < scheme.required_exact_matches:
        st_text, cc = "NA", None
    elif lv == 0:
        st_text = f"ST{st}"
    else:
        st_text = f"ST{st}-{lv}LV"
    return MlstCall(
        scheme=scheme.name,
        label=scheme.label,
        st=st_text,
        clonal_complex=(cc or None) if scheme.has_clonal_complex else None,
        loci=tuple(calls),
        exact_matches=exact_matches,
        selected_by=selected_by,
    )


def type_scheme(scheme: Scheme, regions: dict[str, list[Region]], selected_by: str = "species") -> MlstCall:
    """Type one scheme from the regions where its loci lie (locus -> regions)."""
    hits = {locus: locus_hits(scheme.alleles[locus], regions.get(locus, [])) for locus in scheme.loci}
    return call_scheme(scheme, hits, selected_by)


# --------------------------------------------------------------------------- which scheme


def complexes_for_species(species: str | None) -> tuple[str, ...] | None:
    """The complexes a species name (Kleborate's spelling, any case) or PointFinder key means;
    None when nothing is known (then every scheme is tried); () for a species without a scheme."""
    if not species:
        return None
    text = species.strip().lower()
    if text in ("", "auto", "other", "none", "unknown"):
        return None
    if text in POINTFINDER_KEYS:
        return POINTFINDER_KEYS[text]
    spaced = text.replace("_", " ")
    for family, prefixes in SPECIES_PREFIXES.items():
        if spaced.startswith(prefixes):
            return (family,)
    return ()


def select(db: TypingDB, regions: dict[tuple[str, str], list[Region]], species: str | None) -> list[MlstCall]:
    """The MLST calls to report: every scheme of the species' complex; with no species (or one
    naming several complexes) the complex whose first scheme has an ST with most exact matches."""
    families = complexes_for_species(species)
    candidates = tuple(FAMILIES) if families is None else families
    candidates = tuple(f for f in candidates if all(s in db.schemes for s in FAMILIES[f]))
    if not candidates:
        return []

    def typed(family: str, how: str) -> list[MlstCall]:
        return [
            type_scheme(db.schemes[s], {locus: r for (sch, locus), r in regions.items() if sch == s}, how)
            for s in FAMILIES[family]
        ]

    if len(candidates) == 1 and families is not None:
        return typed(candidates[0], "species")
    # Rank the complexes by the share of their loci (every scheme of the complex) with an exact
    # allele, from exact hits alone (a substring search): a K. pneumoniae genome can match an
    # E. coli Achtman ST exactly (PubMLST's E. coli alleles include Klebsiella ones), but not
    # the Pasteur scheme as well. Only the winner pays for aligning alleles at inexact loci.
    ranked: list[tuple[float, int, str]] = []
    for order, family in enumerate(candidates):
        exact_loci = total_loci = 0
        first_st = "NA"
        for name in FAMILIES[family]:
            scheme = db.schemes[name]
            exact = {locus: exact_hits(scheme.alleles[locus], regions.get((name, locus), [])) for locus in scheme.loci}
            call = call_scheme(scheme, exact)
            first_st = call.st if name == FAMILIES[family][0] else first_st
            exact_loci += sum(1 for c in call.loci if c.hit is not None and c.hit.exact)
            total_loci += len(scheme.loci)
        if first_st != "NA":
            ranked.append((-exact_loci / total_loci, order, family))
    return typed(min(ranked)[2], "best match") if ranked else []
