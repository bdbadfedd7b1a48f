"""Allele families (chalicelib/prediction/reads/families.py): a read aligned once to the
representative gets, on every member, the score an alignment to that member gives."""
from __future__ import annotations

import random

import mappy
import pytest

from chalicelib.prediction.reads import families, predictor as reads

_COMP = str.maketrans("ACGT", "TGCA")


def variant(seq: str, positions: list[int], rng: random.Random) -> str:
    out = list(seq)
    for p in positions:
        out[p] = rng.choice([b for b in "ACGT" if b != out[p]])
    return "".join(out)


@pytest.fixture(scope="module")
def family() -> tuple[families.Family, dict[str, str]]:
    rng = random.Random(5)
    base = "".join(rng.choice("ACGT") for _ in range(900))
    members = {"m0": base}
    for i in range(1, 12):
        members[f"m{i}"] = variant(base, rng.sample(range(900), rng.randint(1, 20)), rng)
    members["other"] = variant(base, rng.sample(range(900), 200), rng)  # 22 % away: its own
    grouped = families.group([(n, s, ("x",)) for n, s in members.items()])
    assert list(grouped) == ["m0"] and "other" not in grouped["m0"].names
    return grouped["m0"], members


def test_member_scores_rank_members_as_aligning_to_each_does(family: tuple[families.Family, dict[str, str]]) -> None:
    fam, members = family
    rep = mappy.Aligner(seq=members["m0"], **reads.READ_OPTIONS)
    each = {n: mappy.Aligner(seq=members[n], **reads.READ_OPTIONS) for n in fam.names}
    rng = random.Random(8)
    checked = 0
    for _ in range(300):
        source = members[rng.choice(fam.names)]
        start = rng.randrange(0, 750)
        read = variant(source[start : start + 150], rng.sample(range(150), rng.randint(0, 2)), rng)
        if rng.random() < 0.5:
            read = read.translate(_COMP)[::-1]
        hits = list(rep.map(read, cs=True))
        if not hits:
            continue
        ours = families.member_scores(fam, hits[0], read.encode(), reads.MIN_ALIGNED, reads.MIN_READ_IDENTITY)
        assert ours is not None
        direct = {}
        for n, aligner in each.items():
            found = [reads._score(h) for h in aligner.map(read) if reads._passes(h)]
            if found:
                direct[n] = max(found)
        assert set(direct) <= set(ours)  # (a member too far for the aligner's seeds still scores)
        top = max(direct.values())
        assert {n for n, s in ours.items() if s == max(ours.values())} == {n for n, s in direct.items() if s == top}
        checked += 1
    assert checked > 250


def test_an_alignment_with_an_indel_asks_for_the_members_one_by_one(family: tuple[families.Family, dict[str, str]]) -> None:
    fam, members = family
    read = members["m0"][100:170] + members["m0"][175:255]  # a 5-base deletion
    (hit,) = mappy.Aligner(seq=members["m0"], **reads.READ_OPTIONS).map(read, cs=True)
    assert "-" in hit.cs and families.member_scores(fam, hit, read.encode(), 30, 0.8) is None
