"""Streaming, validating FASTQ reader (plain or gzip), single-end or paired (SPEC §12).

Read files are large (a 2 x 1 GB gzip pair must run in a 3 GB Lambda), so reads are
pulled record by record from the S3 stream and never held whole; the byte layer (gzip
members, truncation, size and decompression limits, bytes-consumed progress) is the
FASTA reader's (:class:`chalicelib.prediction.fasta.FastaReader`), shared so both
formats enforce the same limits the same way.

Every problem raises :class:`~chalicelib.prediction.fasta.InputError` whose message names
the file, the record number (1-based, counting reads) and the problem, because the
message is shown to the user as the job error: truncated record, missing `@` or `+`
line, quality length different from sequence length, invalid bases, a FASTA file where
FASTQ is expected, an empty file; for a pair, different read counts and read names that
do not match.
"""
from __future__ import annotations

import re
from typing import Any, BinaryIO, Iterator

from chalicelib.prediction.fasta import FastaReader, InputError, Readable

_VALID_BASES = b"ACGTNRYKMSWBDHVacgtnrykmswbdhv."
_INVALID = re.compile(rb"[^ACGTNRYKMSWBDHVacgtnrykmswbdhv.]")
#: Mate suffixes a read name may carry (`/1`, `/2`) and Casava 1.8 comments (`1:N:0:...`).
_MATE_SUFFIX = re.compile(r"/[12]$")


class FastqReader(FastaReader):
    """Iterate ``(read_name, sequence)`` of a FASTQ stream; sequences upper-case text.

    Shares the FASTA reader's byte layer (gzip, ``max_bytes``, ``bytes_read``,
    ``fraction``); only record parsing differs. Qualities are checked (length) and not
    kept: calling uses read counts, not base qualities. Iterate once.
    """

    def __init__(
        self,
        stream: Readable | BinaryIO,
        name: str = "input",
        max_bytes: int | None = None,
        chunk_size: int = 1 << 20,
    ) -> None:
        super().__init__(stream, name=name, max_bytes=max_bytes, chunk_size=chunk_size)
        self.reads = 0

    def _where(self, record: int, line_no: int) -> str:
        return f"{self.name}, record {record} (line {line_no})"

    def _line_blocks(self) -> Iterator[list[bytes]]:
        """Complete lines, a chunk's worth at a time (one split per chunk, not per line)."""
        pending = b""
        for chunk in self._chunks():
            data = pending + chunk if pending else chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                pending = data
                continue
            pending = data[cut + 1 :]
            yield data[:cut].split(b"\n")
        if pending:
            yield [pending]

    def batches(self, max_reads: int = 20_000, names: bool = False) -> Iterator[tuple[list[bytes], list[Any]]]:
        """Reads in batches: (sequences as bytes, raw read ids when `names` — the header's
        first word with '@', see :func:`read_name` —, else []).

        Whole batches are checked at once (comprehensions and one regex over the joined
        sequences), so validation costs little per read; the exact record is located
        only when something is wrong."""
        if self._started:
            raise RuntimeError("FastqReader can be iterated only once")
        self._started = True
        lines: list[bytes] = []
        line_no = 0  # lines consumed before `lines[0]`
        record = 0  # records consumed before `lines[0]`
        exhausted = False
        blocks = self._line_blocks()
        while not exhausted or lines:
            while not exhausted and len(lines) < 4 * max_reads:
                block = next(blocks, None)
                if block is None:
                    exhausted = True
                    while lines and not lines[-1].strip():
                        lines.pop()  # trailing blank lines end a file harmlessly
                else:
                    lines.extend(block)
            if not lines:
                break
            if record == 0 and not lines[0].strip() and exhausted and all(not x.strip() for x in lines):
                break
            take = min(len(lines) // 4, max_reads) * 4
            if exhausted and len(lines) <= 4 * max_reads:
                take = len(lines)  # the end of the file: a truncated last record is seen in this batch
            group, lines = lines[:take], lines[take:]
            if group and group[0][-1:] == b"\r" or (len(group) > 1 and group[1][-1:] == b"\r"):
                group = [x.rstrip(b"\r") for x in group]
            seqs, found = self._check(group, record, line_no, names)
            record += len(seqs)
            line_no += len(group)
            self.reads += len(seqs)
            self.line_no = line_no
            yield seqs, found
        if record == 0:
            raise InputError(f"{self.name}: empty file, no FASTQ reads found")

    def _check(self, group: list[bytes], record: int, line_no: int, names: bool) -> tuple[list[bytes], list[Any]]:
        heads, seqs, plus, quals = group[0::4], group[1::4], group[2::4], group[3::4]
        n = len(heads)
        # C-speed checks of the whole batch: every header starts with '@', every separator
        # with '+', and quality lengths equal sequence lengths.
        if (len(quals) < n or (b"\n" + b"\n".join(heads)).count(b"\n@") != n
                or (b"\n" + b"\n".join(plus)).count(b"\n+") != n or list(map(len, seqs)) != list(map(len, quals))):
            self._locate(group, record, line_no)
        joined = b"".join(seqs)
        if joined.translate(None, _VALID_BASES):
            bad = _INVALID.search(joined)
        else:
            bad = None
        if bad is not None:
            offset = bad.start()
            for i, seq in enumerate(seqs):
                if offset < len(seq):
                    ch = chr(seq[offset])
                    shown = repr(ch) if ch.isprintable() else f"0x{ord(ch):02x}"
                    raise InputError(
                        f"{self._where(record + i + 1, line_no + 4 * i + 2)}: invalid base {shown} at column {offset + 1}"
                    )
                offset -= len(seq)
        self.bases += len(joined)
        return seqs, [h.split(None, 1)[0] for h in heads] if names else []

    def _locate(self, group: list[bytes], record: int, line_no: int) -> None:
        """Raise the precise error of the first bad record of `group` (the slow path)."""
        for i in range(0, len(group), 4):
            rec, start = record + i // 4 + 1, line_no + i + 1
            head = group[i]
            if head[:1] != b"@":
                raise self._not_fastq(head, rec, start)
            if i + 3 >= len(group):
                missing = ("sequence", "'+' separator", "quality")[len(group) - i - 1]
                raise InputError(
                    f"{self._where(rec, start)}: truncated record (the file ends before its {missing} line)"
                )
            seq, plus, qual = group[i + 1], group[i + 2], group[i + 3]
            if plus[:1] != b"+":
                raise InputError(f"{self._where(rec, start + 2)}: expected a '+' separator line")
            if len(qual) != len(seq):
                raise InputError(
                    f"{self._where(rec, start)}: quality length {len(qual)} differs from sequence length {len(seq)}"
                )

    def __iter__(self) -> Iterator[tuple[str, str]]:  # type: ignore[override]
        for seqs, names in self.batches(names=True):
            for name, seq in zip(names, seqs):
                yield read_name(name), seq.upper().decode("ascii")

    def _not_fastq(self, line: bytes, record: int, line_no: int) -> InputError:
        if line[:1] == b">":
            return InputError(
                f"{self._where(record, line_no)}: this is FASTA, not FASTQ; a read file (FASTQ) is "
                "expected here (an assembly is submitted alone, without a mate)"
            )
        if record == 1:
            return InputError(
                f"{self._where(record, line_no)}: not a FASTQ file (a record starts with an '@' header line)"
            )
        return InputError(
            f"{self._where(record, line_no)}: expected an '@' header line (the previous record has "
            "more or fewer than four lines)"
        )


def read_name(header: bytes) -> str:
    """A read's name without '@', comment and mate suffix: what both mates share."""
    word = header[1:].split(None, 1)[0] if len(header) > 1 and header[1:].strip() else b""
    try:
        text = word.decode("utf-8")
    except UnicodeDecodeError:
        text = word.decode("latin-1")
    return _MATE_SUFFIX.sub("", text)


def read_pairs(first: FastqReader, second: FastqReader) -> Iterator[tuple[str, str]]:
    """Mates in step: yields the two sequences of each pair; checks read counts and names."""
    it1, it2 = iter(first), iter(second)
    record = 0
    while True:
        r1 = next(it1, None)
        r2 = next(it2, None)
        if r1 is None and r2 is None:
            return
        record += 1
        if r1 is None or r2 is None:
            short, longer = (first, second) if r1 is None else (second, first)
            raise InputError(
                f"mates have different read counts: {short.name} ends after {record - 1} reads, "
                f"{longer.name} has more (record {record})"
            )
        if r1[0] != r2[0]:
            raise InputError(
                f"{first.name} and {second.name}, record {record}: mate names do not match "
                f"({r1[0]!r} vs {r2[0]!r}); the files are not mates or are not in the same order"
            )
        yield r1[1], r2[1]



def pair_batches(first: FastqReader, second: FastqReader, max_pairs: int = 10_000) -> Iterator[list[bytes]]:
    """Mates in step, a batch at a time: each batch lists both mates of every pair; checks
    read counts and names like :func:`read_pairs`."""
    it1, it2 = first.batches(max_pairs, names=True), second.batches(max_pairs, names=True)
    record = 0
    while True:
        b1, b2 = next(it1, None), next(it2, None)
        if b1 is None and b2 is None:
            return
        n1, n2 = (len(b[0]) if b else 0 for b in (b1, b2))
        if n1 != n2:
            short, longer = (first, second) if n1 < n2 else (second, first)
            raise InputError(
                f"mates have different read counts: {short.name} ends after {record + min(n1, n2)} reads, "
                f"{longer.name} has more (record {record + min(n1, n2) + 1})"
            )
        assert b1 is not None and b2 is not None
        if b1[1] != b2[1] and _stems(b1[1]) != _stems(b2[1]):
            i = next(i for i, (x, y) in enumerate(zip(b1[1], b2[1])) if read_name(x) != read_name(y))
            raise InputError(
                f"{first.name} and {second.name}, record {record + i + 1}: mate names do not match "
                f"({read_name(b1[1][i])!r} vs {read_name(b2[1][i])!r}); the files are not mates or are not in "
                "the same order"
            )
        record += n1
        flat: list[bytes] = [b""] * (2 * n1)
        flat[0::2], flat[1::2] = b1[0], b2[0]
        yield flat


def _stems(ids: list[bytes]) -> list[bytes]:
    """Read ids without a `/1` or `/2` mate suffix (Casava 1.8 ids carry none)."""
    return [i[:-2] if i[-2:] in (b"/1", b"/2") else i for i in ids]


def single_batches(reader: FastqReader, max_reads: int = 20_000) -> Iterator[list[bytes]]:
    """Single-end reads, a batch at a time."""
    for seqs, _ in reader.batches(max_reads):
        yield seqs
