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
from typing import BinaryIO, Iterator

from chalicelib.prediction.fasta import FastaReader, InputError, Readable

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

    def __iter__(self) -> Iterator[tuple[str, str]]:  # type: ignore[override]
        if self._started:
            raise RuntimeError("FastqReader can be iterated only once")
        self._started = True
        lines = self._lines()
        line_no = 0
        record = 0
        for header in lines:
            line_no += 1
            if not header.strip():
                continue  # blank lines between records (e.g. a trailing newline) are harmless
            record += 1
            start = line_no
            if header[:1] != b"@":
                raise self._not_fastq(header, record, line_no)
            seq = next(lines, None)
            plus = next(lines, None)
            qual = next(lines, None)
            if qual is None:
                missing = "sequence" if seq is None else "'+' separator" if plus is None else "quality"
                raise InputError(
                    f"{self._where(record, start)}: truncated record (the file ends before its {missing} line)"
                )
            line_no += 3
            seq, qual = seq.rstrip(b"\r"), qual.rstrip(b"\r")
            if plus[:1] != b"+":
                raise InputError(f"{self._where(record, start + 2)}: expected a '+' separator line")
            if len(qual) != len(seq):
                raise InputError(
                    f"{self._where(record, start)}: quality length {len(qual)} differs from "
                    f"sequence length {len(seq)}"
                )
            bad = _INVALID.search(seq)
            if bad is not None:
                ch = chr(seq[bad.start()])
                shown = repr(ch) if ch.isprintable() else f"0x{ord(ch):02x}"
                raise InputError(
                    f"{self._where(record, start + 1)}: invalid base {shown} at column {bad.start() + 1}"
                )
            self.reads += 1
            self.bases += len(seq)
            self.line_no = line_no
            yield read_name(header), seq.upper().decode("ascii")
        if record == 0:
            raise InputError(f"{self.name}: empty file, no FASTQ reads found")

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

