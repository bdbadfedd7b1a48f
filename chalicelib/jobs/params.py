"""A job's prediction parameters (design §6) and their rules, in one place.

The API (`jobs.schemas.JobParams`), bucket-drop metadata and the predictor all ask
`PredictParams` for the verdict, so a rule is written once. It lives with the jobs
because parameters are part of a job's record; the predictors read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

SUPPORTED_MODELS = ("resfinder",)
NO_SPECIES = "other"
#: PointFinder species keys (design §12) and the name ResFinder gives each (its panels use it).
SPECIES: dict[str, str] = {
    "escherichia_coli": "escherichia coli",
    "klebsiella": "klebsiella",
    "salmonella": "salmonella",
    "campylobacter": "campylobacter",
    "enterococcus_faecalis": "enterococcus faecalis",
    "enterococcus_faecium": "enterococcus faecium",
    "helicobacter_pylori": "helicobacter pylori",
    "mycobacterium_tuberculosis": "mycobacterium tuberculosis",
    "neisseria_gonorrhoeae": "neisseria gonorrhoeae",
    "staphylococcus_aureus": "staphylococcus aureus",
    "plasmodium_falciparum": "plasmodium falciparum",
}
#: Abbreviations ResFinder's species table accepts for the species above.
_ABBREVIATIONS = {
    "e. coli": "escherichia_coli",
    "e.coli": "escherichia_coli",
    "e coli": "escherichia_coli",
    "ecoli": "escherichia_coli",
}
#: PointFinder databases of a whole genus: "Klebsiella pneumoniae" searches `klebsiella`, as in ResFinder.
_GENERA = ("klebsiella", "salmonella", "campylobacter")
SPECIES_HELP = (
    "one of "
    + ", ".join(list(SPECIES) + [NO_SPECIES])
    + " (case-insensitive; ResFinder's spellings such as 'Escherichia coli' or 'Klebsiella pneumoniae' too)"
)


def normalise_species(value: Any) -> str:
    """The PointFinder key of a species as a user writes it; ValueError naming the accepted values."""
    if not isinstance(value, str):
        raise ValueError(f"species must be {SPECIES_HELP}")
    text = " ".join(value.replace("_", " ").split()).lower()
    if text in ("", NO_SPECIES):
        return NO_SPECIES
    for key, name in SPECIES.items():
        if text == name:
            return key
    if text in _ABBREVIATIONS:
        return _ABBREVIATIONS[text]
    words = text.split(" ")
    if len(words) == 2 and words[0] in _GENERA:
        return words[0]
    raise ValueError(f"species must be {SPECIES_HELP}")


@dataclass(frozen=True)
class PredictParams:
    """Job parameters of design §6; invalid values raise ValueError on construction."""

    model_name: str = "resfinder"
    segment_length: int = 100_000
    segment_overlap: int = 5_000
    batch_size: int = 16
    use_cpu: bool = True
    min_identity: float = 0.90
    min_coverage: float = 0.60
    species: str = NO_SPECIES
    point_mutations: bool | None = None  # None: true exactly when a species is given
    #: reads only: least mean depth of a called gene, and least reads at a position read for mutations
    min_depth: float = 2.0
    #: reads only: least fraction of the reads at a position showing a change for it to count
    min_allele_fraction: float = 0.3

    def __post_init__(self) -> None:  # noqa: C901 - one check per parameter, each a plain if; reads as the list it is
        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        def is_num(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool)

        if self.model_name not in SUPPORTED_MODELS:
            raise ValueError(f"model_name must be one of {', '.join(SUPPORTED_MODELS)}")
        if not is_int(self.segment_length) or self.segment_length < 1:
            raise ValueError("segment_length must be a positive integer")
        if not is_int(self.segment_overlap) or self.segment_overlap < 0:
            raise ValueError("segment_overlap must be a non-negative integer")
        if self.segment_overlap >= self.segment_length:
            raise ValueError("segment_overlap must be < segment_length")
        if not is_int(self.batch_size) or self.batch_size < 1:
            raise ValueError("batch_size must be a positive integer")
        if not isinstance(self.use_cpu, bool):
            raise ValueError("use_cpu must be a boolean")
        for name in ("min_identity", "min_coverage"):
            v = getattr(self, name)
            if not is_num(v) or not 0.0 <= float(v) <= 1.0:
                raise ValueError(f"{name} must be a number between 0 and 1")
        if not is_num(self.min_depth) or not 0.0 <= float(self.min_depth) <= 10_000.0:
            raise ValueError("min_depth must be a number between 0 and 10000")
        if not is_num(self.min_allele_fraction) or not 0.0 < float(self.min_allele_fraction) <= 1.0:
            raise ValueError("min_allele_fraction must be a number above 0 and at most 1")
        species = normalise_species(self.species)
        object.__setattr__(self, "species", species)  # frozen: the canonical key is stored
        if self.point_mutations is None:
            object.__setattr__(self, "point_mutations", species != NO_SPECIES)
        elif not isinstance(self.point_mutations, bool):
            raise ValueError("point_mutations must be a boolean")
        elif self.point_mutations and species == NO_SPECIES:
            raise ValueError("point_mutations needs a species: set species to " + SPECIES_HELP)

    @property
    def species_name(self) -> str | None:
        """ResFinder's name of the species (its panel name), None without a species."""
        return SPECIES.get(self.species)

    @classmethod
    def from_dict(cls, params: Mapping[str, Any] | None) -> PredictParams:
        """Build from a job's ``params`` dict; unknown names raise ValueError."""
        params = dict(params or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"unknown parameter(s): {', '.join(unknown)}")
        return cls(**params)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (e.g. to store with the job)."""
        return asdict(self)
