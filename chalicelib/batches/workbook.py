"""The batch workbook (design §21): one ``.xlsx`` a lab files with its run.

Sheets, as staramr's ``results.xlsx`` has them, plus what this service adds:

* **Summary** — one row per sample: status, species, ST, QC verdict, resistant antibiotics,
  genes, mutations, replicons;
* **Matrix** — sample × antibiotic, ``R`` / ``S`` / ``?`` cells coloured, header frozen;
* **Genes**, **Mutations**, **Plasmids** — one row per finding (a sample without findings
  has no row there; the Summary says "none" or "not run");
* **MLST** — one row per finished sample (``not run`` when typing did not run);
* **QC** — one row per check of each finished sample (``not run`` when QC did not run);
* **Settings** — the batch, the service version, when the workbook was generated, every
  database (name, version, commit) the samples were predicted with, and the parameters.

Every cell is text or a number, never a formula: a sample named ``=HYPERLINK(...)`` is
stored as a string cell and shows as typed. The sheets read ``predictions.json`` as the
service writes it; sections that a sample's results do not hold yet (species/QC of SPEC
§19, typing of §20) show as ``not run``, so results written before those sections existed
still make a complete workbook. The choices are written down in the README ("Batch workbook").
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from chalicelib.core.tables import plain

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHEETS = ("Summary", "Matrix", "Genes", "Mutations", "Plasmids", "MLST", "QC", "Settings")
NOT_RUN = "not run"
NONE_FOUND = "none"
#: Excel's own cell limit; longer text is cut with a note (no real value comes close).
MAX_CELL_CHARS = 32_767
MAX_COLUMN_WIDTH = 50
#: Excel's tallest row, and one line of the default 11-point font (points).
MAX_ROW_POINTS = 409.0
LINE_POINTS = 15.0

#: Characters XML 1.0 cannot hold (a spreadsheet would refuse the file).
ILLEGAL_CHARACTERS_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
#: The colours of Excel's "Bad" / "Good" / "Neutral" cell styles, so a lab's eye reads them at once.
CALL_STYLE: dict[str, dict[str, Any]] = {
    "R": {"bg_color": "#FFC7CE", "font_color": "#9C0006", "bold": True},
    "S": {"bg_color": "#C6EFCE", "font_color": "#006100"},
    "?": {"bg_color": "#FFEB9C", "font_color": "#9C5700"},
    "": {},
}
HEADER_STYLE: dict[str, Any] = {"bold": True, "bg_color": "#D9E1F2", "border": 1}
#: XlsxWriter never turns text into a formula, a number or a link: cells are what we write.
BOOK_OPTIONS = {"in_memory": True, "strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False}

#: Column order of the finding sheets: these keys first (when present), then any other key
#: the results hold, in the order first seen; nested objects become ``key.sub`` columns.
GENE_KEYS = (
    "gene", "allele", "accession", "drug_class", "phenotypes", "identity", "coverage", "depth",
    "contig", "start", "end", "strand", "location",
)  # fmt: skip
MUTATION_KEYS = (
    "gene", "mutation", "nucleotide_change", "amino_acid_change", "type", "position", "contig",
    "contig_position", "resistance", "pmids", "reference",
)  # fmt: skip
PLASMID_KEYS = (
    "replicon", "name", "identity", "coverage", "contig", "start", "end", "strand", "accession",
    "length", "database",
)  # fmt: skip
#: Friendlier headers for the keys the service writes today; others show as the key itself.
HEADERS = {
    "drug_class": "drug class",
    "nucleotide_change": "nucleotide change",
    "amino_acid_change": "amino acid change",
    "contig_position": "contig position",
    "pmids": "PMIDs",
    "identity": "identity %",
    "coverage": "coverage %",
}


@dataclass(frozen=True)
class Sample:
    """One sample of the batch: its job's record and, when finished, its ``predictions.json``."""

    name: str
    job_id: str
    status: str
    error: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    predictions: Mapping[str, Any] | None = None
    #: antibiotic → R / S / ? / "" (the batch matrix's calls for this sample)
    calls: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchInfo:
    """What the Settings sheet says about the batch and the service that answered."""

    batch_id: str
    batch_name: str
    created_at: str
    generated_at: str
    service_version: str
    params: Mapping[str, Any] = field(default_factory=dict)
    default_params: Mapping[str, Any] = field(default_factory=dict)


# --- reading predictions.json (tolerant: older results lack the newer sections) ------------


def species_of(predictions: Mapping[str, Any] | None) -> dict[str, str]:
    """``detected``, ``match``, ``given`` and ``used`` of design §19's ``species`` object; the
    older plain string is the species the user gave (nothing was detected then)."""
    out = {"detected": "", "match": "", "given": "", "used": ""}
    value = (predictions or {}).get("species")
    if isinstance(value, Mapping):
        detected = value.get("detected")
        if isinstance(detected, Mapping):
            out["detected"] = _text(detected.get("name"))
            out["match"] = _text(detected.get("match"))
        elif detected is not None:
            out["detected"] = _text(detected)
        out["given"] = _text(value.get("given"))
        out["used"] = _text(value.get("used"))
    elif isinstance(value, str):
        out["given"] = value
    if predictions is not None and not out["detected"] and not isinstance(value, Mapping):
        out["detected"] = NOT_RUN
    return out


def qc_of(predictions: Mapping[str, Any] | None) -> tuple[str, list[Mapping[str, Any]]]:
    """The QC verdict and its checks (design §19); ``not run`` when the results have none."""
    qc = (predictions or {}).get("qc")
    if not isinstance(qc, Mapping):
        return (NOT_RUN if predictions is not None else ""), []
    checks = [c for c in qc.get("checks") or [] if isinstance(c, Mapping)]
    return _text(qc.get("verdict")) or NOT_RUN, checks


def qc_metrics(predictions: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The measured numbers behind the verdict (contig count, N50, GC %, depth, ...)."""
    qc = (predictions or {}).get("qc")
    metrics = qc.get("metrics") if isinstance(qc, Mapping) else None
    return metrics if isinstance(metrics, Mapping) else {}


def _typed(predictions: Mapping[str, Any]) -> bool:
    """Typing ran when the results name its database: an empty list then means "none found"."""
    return bool(predictions.get("typing_database"))


def mlst_of(predictions: Mapping[str, Any] | None) -> list[Mapping[str, Any]] | None:
    """design §20's MLST calls, one per typed scheme (E. coli has two), or None when typing did
    not run. A single ``mlst`` object is read as one call."""
    if predictions is None:
        return None
    mlst = predictions.get("mlst")
    if isinstance(mlst, Mapping):
        return [mlst]
    if not isinstance(mlst, list) or (not mlst and not _typed(predictions)):
        return None
    return [m for m in mlst if isinstance(m, Mapping)]


def st_text(calls: list[Mapping[str, Any]] | None) -> str:
    """The Summary's ST: ``ST258``; with two schemes ``ST131 (ecoli_achtman), ...``."""
    if calls is None:
        return NOT_RUN
    if not calls:
        return "no scheme"
    if len(calls) == 1:
        return _text(calls[0].get("st"))
    return ", ".join(f"{_text(c.get('st'))} ({_text(c.get('scheme'))})" for c in calls)


def alleles_of(mlst: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(locus, allele) pairs, from ``{"gapA": "3", ...}`` or ``[{"locus", "allele"}, ...]``."""
    alleles = mlst.get("alleles")
    if isinstance(alleles, Mapping):
        return [(str(k), _text(v)) for k, v in alleles.items()]
    pairs: list[tuple[str, str]] = []
    for item in alleles if isinstance(alleles, list) else []:
        if isinstance(item, Mapping):
            pairs.append((_text(item.get("locus") or item.get("gene")), _text(item.get("allele"))))
    return pairs


def plasmids_of(predictions: Mapping[str, Any] | None) -> list[Mapping[str, Any]] | None:
    """Replicon hits (design §20), or None when typing did not run."""
    if predictions is None:
        return None
    plasmids = predictions.get("plasmids")
    if isinstance(plasmids, Mapping):  # {"hits": [...], ...} is accepted too
        plasmids = plasmids.get("hits")
    if not isinstance(plasmids, list) or (not plasmids and not _typed(predictions)):
        return None
    return [p for p in plasmids if isinstance(p, Mapping)]


def replicon_name(hit: Mapping[str, Any]) -> str:
    return _text(hit.get("replicon") or hit.get("name") or hit.get("gene"))


def location_text(location: Any) -> str:
    """A gene's ``location`` in words: ``IncFII(K) contig`` or ``chromosome-like``."""
    if not isinstance(location, Mapping):
        return _text(location)
    replicons = location.get("replicons") or []
    if location.get("kind") == "plasmid" or replicons:
        return ", ".join(str(r) for r in replicons) + " contig"
    return _text(location.get("kind"))


DATABASE_FIELDS = ("name", "version", "commit", "source")


def databases_of(predictions: Mapping[str, Any]) -> list[dict[str, str]]:
    """Every reference database a result names — a top-level ``*database`` object (or a map
    of them, as ``typing_database`` is) and ``*database`` objects inside the species and QC
    sections, one level down too (``species.detected.database``) — each as role, name,
    version (or source) and commit."""
    found: list[dict[str, str]] = []

    def add(value: Any, role: str, depth: int = 0) -> None:
        if not isinstance(value, Mapping):
            return
        if any(value.get(f) for f in DATABASE_FIELDS):
            found.append({
                "role": role,
                "name": _text(value.get("name")) or role.rsplit(".", 1)[-1],
                "version": _text(value.get("version") or value.get("source") or value.get("date")),
                "commit": _text(value.get("commit")),
            })  # fmt: skip
        elif depth == 0:  # a map of databases, e.g. {"mlst": {...}, "plasmidfinder": {...}}
            for sub, entry in value.items():
                add(entry, f"{role}.{sub}", 1)

    for key, value in predictions.items():
        if key.endswith("database"):
            add(value, key)
        elif key in ("species", "qc") and isinstance(value, Mapping):
            for sub, entry in value.items():
                if sub.endswith("database"):
                    add(entry, f"{key}.{sub}")
                elif isinstance(entry, Mapping):  # e.g. species.detected.database
                    add(entry.get("database"), f"{key}.{sub}.database", 1)
    return found


# --- cells -------------------------------------------------------------------


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def cell_value(value: Any) -> str | int | float | None:
    """A value fit for one cell: numbers stay numbers, lists of scalars are joined with
    ", ", other structures become compact JSON, and text loses characters XML cannot hold."""
    kind = type(value)
    if kind is str:
        text = value
    elif value is None:
        return None
    elif kind is bool:
        return "yes" if value else "no"
    elif kind is int or kind is float:
        return value  # exact int or float (a bool was answered above)
    elif kind is list or kind is tuple:
        if all(not isinstance(v, (dict, list, tuple)) for v in value):
            text = ", ".join(_text(v) for v in value)
        else:
            text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    elif isinstance(value, Mapping):
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    else:
        text = str(value)
    if ILLEGAL_CHARACTERS_RE.search(text):
        text = ILLEGAL_CHARACTERS_RE.sub(" ", text)
    if len(text) > MAX_CELL_CHARS:
        cut = " … (cut: too long for one cell)"
        text = text[: MAX_CELL_CHARS - len(cut)] + cut
    return text


def flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """One level of nesting becomes dotted keys (``location.replicon``); deeper stays JSON."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and not prefix:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def columns_of(records: Iterable[Mapping[str, Any]], preferred: Sequence[str]) -> list[str]:
    """``preferred`` keys that occur (and their dotted children), then the others as first seen."""
    seen: dict[str, None] = {}
    for record in records:
        for key in record:
            seen.setdefault(key, None)

    def rank(key: str) -> tuple[int, int]:
        base = key.split(".", 1)[0]
        return (preferred.index(base), 0) if base in preferred else (len(preferred), 0)

    order = {key: i for i, key in enumerate(seen)}
    return sorted(seen, key=lambda k: (rank(k), order[k]))


def header_of(key: str) -> str:
    return HEADERS.get(key, key.replace("_", " "))


# --- sheets ------------------------------------------------------------------


@dataclass
class Sheet:
    """Rows of one sheet before they are written (widths need every value first)."""

    title: str
    header: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    #: 1-based column from which cells are R / S / ? calls (Matrix only)
    calls_from: int | None = None
    freeze: str = "B2"


def _finished(samples: Sequence[Sample]) -> Iterator[tuple[Sample, Mapping[str, Any]]]:
    for sample in samples:
        if sample.predictions is not None:
            yield sample, sample.predictions


def _names(items: Iterable[Mapping[str, Any]], key: str) -> list[str]:
    return [_text(i.get(key)) for i in items if i.get(key)]


def summary_sheet(samples: Sequence[Sample]) -> Sheet:
    header = [
        "sample", "status", "species", "species match", "species given", "ST", "QC",
        "resistant antibiotics", "genes", "mutations", "replicons", "note", "job id",
    ]  # fmt: skip
    sheet = Sheet("Summary", header)
    for sample in samples:
        p = sample.predictions
        species = species_of(p)
        verdict, _ = qc_of(p)
        mlst = mlst_of(p)
        plasmids = plasmids_of(p)
        resistant = [name for name, call in sample.calls.items() if call == "R"]
        if p is None:
            st, genes, mutations, replicons = "", "", "", ""
        else:
            st = st_text(mlst)
            genes = ", ".join(sorted(set(_names(p.get("genes") or [], "gene")))) or NONE_FOUND
            mutations = ", ".join(_names(p.get("mutations") or [], "mutation")) or NONE_FOUND
            names = [replicon_name(h) for h in plasmids or []]
            replicons = NOT_RUN if plasmids is None else (", ".join(dict.fromkeys(n for n in names if n)) or NONE_FOUND)
        sheet.rows.append([
            sample.name, sample.status, species["detected"], species["match"], species["given"], st, verdict,
            ", ".join(resistant) if p is not None else "", genes, mutations, replicons, sample.error or "",
            sample.job_id,
        ])  # fmt: skip
    return sheet


def matrix_sheet(samples: Sequence[Sample], antibiotics: Sequence[str]) -> Sheet:
    sheet = Sheet("Matrix", ["sample", "status", *antibiotics], calls_from=3, freeze="C2")
    for sample in samples:
        sheet.rows.append([sample.name, sample.status, *(sample.calls.get(a, "") for a in antibiotics)])
    return sheet


def findings_sheet(title: str, samples: Sequence[Sample], key: str, preferred: Sequence[str]) -> Sheet:
    """Genes or Mutations: one row per finding, every field of it as a column (a gene's
    ``location`` in words)."""
    records = [
        (sample, flatten(_readable(item)))
        for sample, p in _finished(samples)
        for item in p.get(key) or []
        if isinstance(item, Mapping)
    ]
    keys = columns_of((r for _, r in records), preferred)
    sheet = Sheet(title, ["sample", *(header_of(k) for k in keys)])
    sheet.rows = [[sample.name, *(record.get(k) for k in keys)] for sample, record in records]
    return sheet


def _readable(item: Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(item.get("location"), Mapping):
        return {**item, "location": location_text(item["location"])}
    return item


def plasmids_sheet(samples: Sequence[Sample]) -> Sheet:
    records = [(s, flatten(hit)) for s, p in _finished(samples) for hit in plasmids_of(p) or []]
    keys = columns_of((r for _, r in records), PLASMID_KEYS)
    sheet = Sheet("Plasmids", ["sample", *(header_of(k) for k in keys)])
    sheet.rows = [[sample.name, *(record.get(k) for k in keys)] for sample, record in records]
    return sheet


def mlst_sheet(samples: Sequence[Sample]) -> Sheet:
    """One row per typed scheme of each finished sample: scheme, ST, clonal complex and every
    locus' allele as the results mark it (loci of all the batch's schemes as columns)."""
    loci: dict[str, None] = {}
    rows: list[tuple[Sample, Mapping[str, Any] | None, str]] = []
    for sample, p in _finished(samples):
        calls = mlst_of(p)
        if not calls:
            rows.append((sample, None, NOT_RUN if calls is None else "no scheme"))
        for call in calls or []:
            rows.append((sample, call, ""))
            for locus, _ in alleles_of(call):
                loci.setdefault(locus, None)
    sheet = Sheet("MLST", ["sample", "scheme", "ST", "clonal complex", *loci])
    for sample, typed, why in rows:
        if typed is None:
            sheet.rows.append([sample.name, why, why, "", *("" for _ in loci)])
            continue
        alleles = dict(alleles_of(typed))
        sheet.rows.append([
            sample.name, _text(typed.get("label") or typed.get("scheme")), _text(typed.get("st")),
            _text(typed.get("clonal_complex")), *(alleles.get(locus, "") for locus in loci),
        ])  # fmt: skip
    return sheet


def qc_sheet(samples: Sequence[Sample]) -> Sheet:
    """One row per finished sample, as staramr's QC sheet: the verdict, every measured number,
    each check's outcome, and why a check did not pass."""
    found = [(s, p, *qc_of(p)) for s, p in _finished(samples)]
    metrics = columns_of((qc_metrics(p) for _, p, _, _ in found), ())
    checks = list(dict.fromkeys(_text(c.get("name")) for _, _, _, cs in found for c in cs if c.get("name")))
    sheet = Sheet("QC", ["sample", "verdict", *(header_of(m) for m in metrics), *checks, "reasons"])
    for sample, p, verdict, sample_checks in found:
        numbers = qc_metrics(p)
        outcome = {_text(c.get("name")): _text(c.get("status") or c.get("result")) for c in sample_checks}
        reasons = "; ".join(
            _text(c.get("message")) or f"{_text(c.get('name'))}: {_text(c.get('value'))}"
            for c in sample_checks
            if _text(c.get("status") or c.get("result")).upper() not in ("PASS", "")
        )
        sheet.rows.append([
            sample.name, verdict, *(numbers.get(m) for m in metrics), *(outcome.get(c, "") for c in checks), reasons,
        ])  # fmt: skip
    return sheet


def settings_sheet(info: BatchInfo, samples: Sequence[Sample]) -> Sheet:
    """What produced these answers, so the workbook can be filed and compared later."""
    sheet = Sheet("Settings", ["section", "name", "value", "version", "commit", "samples"], freeze="A2")
    finished = sum(1 for _ in _finished(samples))
    sheet.rows += [
        ["batch", "name", info.batch_name, "", "", ""],
        ["batch", "batch id", info.batch_id, "", "", ""],
        ["batch", "created at", info.created_at, "", "", ""],
        ["batch", "samples", len(samples), "", "", ""],
        ["batch", "finished samples", finished, "", "", ""],
        ["service", "version", info.service_version, "", "", ""],
        ["service", "generated at", info.generated_at, "", "", ""],
    ]  # fmt: skip
    databases: dict[tuple[str, str, str, str], int] = {}
    for _, p in _finished(samples):
        for db in databases_of(p):
            key = (db["role"], db["name"], db["version"], db["commit"])
            databases[key] = databases.get(key, 0) + 1
    for (role, name, version, commit), count in sorted(databases.items()):
        sheet.rows.append(["database", role, name, version, commit, count])
    params = {**info.default_params, **info.params}
    for name, value in params.items():
        sheet.rows.append(["parameter", name, value, "", "", ""])
    varying = _varying_params(samples, info.params)
    for name, values in varying.items():
        sheet.rows.append(["parameter", name, f"varies by sample: {', '.join(values)}", "", "", ""])
    return sheet


def _varying_params(samples: Sequence[Sample], batch_params: Mapping[str, Any]) -> dict[str, list[str]]:
    """Parameters some sample ran with other than the batch's (e.g. a bucket drop's metadata)."""
    values: dict[str, dict[str, None]] = {}
    for sample in samples:
        for name, value in sample.params.items():
            if batch_params.get(name) != value:
                values.setdefault(name, {})[_text(value)] = None
    return {name: list(v) for name, v in sorted(values.items())}


# --- writing -----------------------------------------------------------------


def _width(values: Iterable[Any]) -> float:
    longest = max((len(_text(v)) for v in values), default=0)
    return float(min(MAX_COLUMN_WIDTH, max(6, longest + 2)))


class _Formats:
    """The workbook's few cell formats, made once (XlsxWriter shares them between cells)."""

    def __init__(self, book: xlsxwriter.Workbook) -> None:
        self.header = book.add_format(HEADER_STYLE)
        self.rotated = book.add_format({**HEADER_STYLE, "rotation": 90, "align": "center"})
        self.top = book.add_format({"valign": "top"})  # a row's cells start together when one wraps
        self.wrap = book.add_format({"text_wrap": True, "valign": "top"})  # long lists wrap in their column
        self.calls = {call: book.add_format({**style, "align": "center"}) for call, style in CALL_STYLE.items()}


def _write(ws: Worksheet, sheet: Sheet, formats: _Formats) -> None:
    """Header bold on a tinted row, frozen, with filters; widths fit the content; calls coloured.
    Text goes through ``write_string`` and numbers through ``write_number``: never a formula."""
    first_call = (sheet.calls_from or 0) - 1 if sheet.calls_from else len(sheet.header)
    row, col = (int(x) for x in _freeze(sheet.freeze))
    ws.freeze_panes(row, col)
    wrapped: list[int] = []
    for index, title in enumerate(sheet.header):
        if index >= first_call:
            ws.set_column(index, index, 4.5)
            ws.write_string(0, index, title, formats.rotated)
        else:
            width = _width([title, *(r[index] for r in sheet.rows)])
            if width >= MAX_COLUMN_WIDTH:
                wrapped.append(index)
            ws.set_column(index, index, width, formats.wrap if width >= MAX_COLUMN_WIDTH else formats.top)
            ws.write_string(0, index, title, formats.header)
    _row_heights(ws, sheet, wrapped)
    ws.autofilter(0, 0, max(1, len(sheet.rows)), len(sheet.header) - 1)
    if sheet.calls_from:  # rotated antibiotic names: the header row is as tall as the longest
        longest = max((len(title) for title in sheet.header[first_call:]), default=0)
        ws.set_row(0, min(MAX_ROW_POINTS, 5.5 * longest + 8))
    else:
        ws.fit_to_pages(1, 0)  # printed: every column on the page's width, as many pages as rows need
    ws.set_landscape()
    ws.repeat_rows(0)  # printed: the header on every page
    for r, values in enumerate(sheet.rows, start=1):
        for c, value in enumerate(values):
            shown = cell_value(value)
            fmt: Format | None = formats.calls.get(_text(shown)) if c >= first_call else None
            if shown is None or shown == "":
                if fmt is not None:
                    ws.write_blank(r, c, None, fmt)
            elif isinstance(shown, str):
                ws.write_string(r, c, shown, fmt)
            else:
                ws.write_number(r, c, shown, fmt)


def _row_heights(ws: Worksheet, sheet: Sheet, wrapped: list[int]) -> None:
    """A row whose long text wraps gets the lines it needs (spreadsheets do not always
    re-measure rows on opening, and text would run over the next row)."""
    per_line = MAX_COLUMN_WIDTH - 2
    for r, values in enumerate(sheet.rows, start=1):
        lines = max((-(-len(_text(values[c])) // per_line) for c in wrapped), default=1)
        if lines > 1:
            ws.set_row(r, min(MAX_ROW_POINTS, LINE_POINTS * lines))


def _freeze(cell: str) -> tuple[int, int]:
    """The cell "C2" → (1, 2): the rows and columns above and left of the cell stay in view."""
    letters = "".join(ch for ch in cell if ch.isalpha())
    col = 0
    for ch in letters.upper():
        col = col * 26 + (ord(ch) - ord("A") + 1)
    return int(cell[len(letters) :]) - 1, col - 1


def _moment(iso: str) -> datetime:
    """The workbook's own timestamps are the generation time (naive UTC, as xlsx stores it)."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC).replace(tzinfo=None)


def sheets(info: BatchInfo, antibiotics: Sequence[str], samples: Sequence[Sample]) -> list[Sheet]:
    """Every sheet's rows, in SHEETS order (tests compare these with the written workbook)."""
    return [
        summary_sheet(samples),
        matrix_sheet(samples, antibiotics),
        findings_sheet("Genes", samples, "genes", GENE_KEYS),
        findings_sheet("Mutations", samples, "mutations", MUTATION_KEYS),
        plasmids_sheet(samples),
        mlst_sheet(samples),
        qc_sheet(samples),
        settings_sheet(info, samples),
    ]


def build(info: BatchInfo, antibiotics: Sequence[str], samples: Sequence[Sample]) -> bytes:
    """The workbook's bytes (built in memory: a 500-sample batch is about 1 MB)."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, BOOK_OPTIONS)
    book.set_properties({
        "title": f"AMR predictions: {info.batch_name}",
        "author": f"amr-service {info.service_version}",
        "created": _moment(info.generated_at),
    })  # fmt: skip
    formats = _Formats(book)
    for sheet in sheets(info, antibiotics, samples):
        _write(book.add_worksheet(sheet.title), sheet, formats)
    book.close()
    return out.getvalue()


# --- from the batch's records --------------------------------------------------


def samples_of(
    jobs: Sequence[Any], reads: Mapping[str, Mapping[str, Any] | str], table: Mapping[str, Any]
) -> list[Sample]:
    """The matrix's rows joined with the predictions they were computed from (``jobs`` are
    job records in submission order; ``reads`` maps a finished job's id to its predictions
    or to why they could not be read)."""
    rows = {row["job_id"]: row for row in table["rows"]}
    samples = []
    for job in jobs:
        read = reads.get(job.job_id)
        row = rows.get(job.job_id, {})
        samples.append(
            Sample(
                name=job.job_name,
                job_id=job.job_id,
                status=job.status,
                error=row.get("error") or job.error,
                params=plain(job.params) or {},
                predictions=read if isinstance(read, Mapping) else None,
                calls=row.get("calls", {}),
            )
        )
    return samples
