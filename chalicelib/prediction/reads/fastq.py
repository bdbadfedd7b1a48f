"""Streaming, validating FASTQ reader (plain or gzip), single-end or paired (design §12).

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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from chalicelib.core import bounds
from chalicelib.prediction.fasta import FastaReader, InputError, Readable, read_ahead

_VALID_BASES = b"ACGTNRYKMSWBDHVacgtnrykmswbdhv."
_NL, _CR, _AT, _PLUS = (ord(c) for c in "\n\r@+")
_INVALID = re.compile(rb"[^ACGTNRYKMSWBDHVacgtnrykmswbdhv.]")
#: Mate suffixes a read name may carry (`/1`, `/2`) and Casava 1.8 comments (`1:N:0:...`).
_MATE_SUFFIX = re.compile(r"/[12]$")
#: A header's comment: from the first blank after the name to the end of the line.
_COMMENT = re.compile(rb"(?<=[^\n@])[ \t][^\n]*")


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

    def blocks(self, max_reads: int = 20_000, names: bool = False) -> Iterator[ReadBlock]:
        """Reads in blocks of ``max_reads`` (the last may be smaller), checked as wholes.

        A block's newlines are found with numpy and its records checked as arrays (headers
        start with '@', separators with '+', quality lengths equal sequence lengths, bases
        valid), so a read costs nanoseconds and no Python object; the sequences come out
        back to back in one buffer. Only when a check fails are the block's lines split and
        walked (:meth:`_locate`) to name the first bad record."""
        if self._started:
            raise RuntimeError("FastqReader can be iterated only once")
        self._started = True
        chunks = read_ahead(self._chunks())
        pending = b""
        pending_lines: np.ndarray = np.zeros(0, np.int64)
        exhausted = False
        while True:
            # Each byte is scanned for newlines once; their positions are carried along.
            parts, size = [pending], len(pending)
            found: list[np.ndarray] = [pending_lines]
            lines = len(pending_lines)
            while not exhausted and lines < 4 * max_reads:
                chunk = next(chunks, None)
                if chunk is None:
                    exhausted = True
                else:
                    at = np.flatnonzero(np.frombuffer(chunk, np.uint8) == _NL)
                    parts.append(chunk)
                    found.append(at + size)
                    size += len(chunk)
                    lines += len(at)
                    self._check_read_line(found, size, lines)
            data = b"".join(parts)
            if lines >= 4 * max_reads:
                newlines = np.concatenate(found)
                cut = int(newlines[4 * max_reads - 1]) + 1
                data, pending = data[:cut], data[cut:]
                pending_lines = newlines[4 * max_reads :] - cut
                yield self._block(data, newlines[: 4 * max_reads], names)
                continue
            # The end of the file: trailing blank lines end it harmlessly; a last line may
            # lack its newline; a record with fewer than four lines is truncated.
            data = data.rstrip(b" \t\r\n")
            if data:
                data += b"\n"
                newlines = np.flatnonzero(np.frombuffer(data, np.uint8) == _NL)
                if len(newlines) % 4:
                    self._locate(_split_lines(data), self.reads, self.line_no)
                    raise InputError(f"{self._where(self.reads + 1, self.line_no + 1)}: truncated record")
                yield self._block(data, newlines, names)
            if self.reads == 0:
                raise InputError(f"{self.name}: empty file, no FASTQ reads found")
            return

    def _block(self, data: bytes, newlines: np.ndarray, names: bool) -> ReadBlock:
        """Check whole records (``data`` ends after the last of ``newlines``, 4 per record)."""
        record, line_no = self.reads, self.line_no
        arr = np.frombuffer(data, np.uint8)
        starts = np.empty(len(newlines), np.int64)
        starts[:1] = 0
        starts[1:] = newlines[:-1] + 1
        ends = newlines.astype(np.int64)
        ends -= (arr[np.maximum(ends - 1, 0)] == _CR) & (ends > starts)  # CRLF line endings
        heads, seqs, plus, quals = starts[0::4], starts[1::4], starts[2::4], starts[3::4]
        lengths = ends[1::4] - seqs
        if not (
            (arr[heads] == _AT).all() and (arr[plus] == _PLUS).all() and np.array_equal(lengths, ends[3::4] - quals)
        ):
            self._locate(_split_lines(data), record, line_no)
            raise InputError(f"{self._where(record + 1, line_no + 1)}: malformed FASTQ record")
        bases = _gather(arr, seqs, lengths).tobytes()
        read_ends = np.cumsum(lengths)
        if bases.translate(None, _VALID_BASES):
            bad = _INVALID.search(bases)
            assert bad is not None
            i = int(np.searchsorted(read_ends, bad.start(), side="right"))
            column = bad.start() - (int(read_ends[i - 1]) if i else 0)
            ch = chr(bases[bad.start()])
            shown = repr(ch) if ch.isprintable() else f"0x{ord(ch):02x}"
            raise InputError(
                f"{self._where(record + i + 1, line_no + 4 * i + 2)}: invalid base {shown} at column {column + 1}"
            )
        head_blob = b""
        if names:  # header lines with their newlines, for the mate check
            head_blob = _gather(arr, heads, newlines[0::4] + 1 - heads).tobytes().replace(b"\r", b"")
        self.reads += len(heads)
        self.bases += len(bases)
        self.line_no = line_no + len(newlines)
        return ReadBlock(bases, read_ends, head_blob)

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

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for block in self.blocks(names=True):
            for i, head in enumerate(block.heads.split(b"\n")[: len(block)]):
                yield read_name(head), block.read(i).upper().decode("ascii")

    def _check_read_line(self, found: list[Any], size: int, lines: int) -> None:
        """Refuse a line past the limit before holding more of it (memory stays bounded)."""
        limit = bounds.max_line_bytes()
        if size <= limit:
            return
        last = next((int(f[-1]) for f in reversed(found) if len(f)), -1)
        if size - last - 1 > limit:
            raise InputError(
                f"{self.name}, line {self.line_no + lines + 1}: line longer than the limit of "
                f"{limit} bytes (AMR_MAX_LINE_BYTES)"
            )

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


def pair_batches(first: FastqReader, second: FastqReader, max_pairs: int = 10_000) -> Iterator[ReadBlock]:
    """Mates in step, a block at a time: each block holds both mates of its pairs (first
    mates, then second mates); checks that the mates have the same read count and the same
    read names (as :func:`read_name` reads them)."""
    it1, it2 = first.blocks(max_pairs, names=True), second.blocks(max_pairs, names=True)
    record = 0
    while True:
        b1, b2 = next(it1, None), next(it2, None)
        if b1 is None and b2 is None:
            return
        n1, n2 = (len(b) if b else 0 for b in (b1, b2))
        if n1 != n2:
            short, longer = (first, second) if n1 < n2 else (second, first)
            raise InputError(
                f"mates have different read counts: {short.name} ends after {record + min(n1, n2)} reads, "
                f"{longer.name} has more (record {record + min(n1, n2) + 1})"
            )
        assert b1 is not None and b2 is not None
        if b1.heads != b2.heads and _names_key(b1.heads) != _names_key(b2.heads):
            h1, h2 = b1.heads.split(b"\n"), b2.heads.split(b"\n")
            i = next(i for i, (x, y) in enumerate(zip(h1, h2, strict=False)) if read_name(x) != read_name(y))
            raise InputError(
                f"{first.name} and {second.name}, record {record + i + 1}: mate names do not match "
                f"({read_name(h1[i])!r} vs {read_name(h2[i])!r}); the files are not mates or are not in "
                "the same order"
            )
        record += n1
        yield ReadBlock.pair(b1, b2)


def _names_key(heads: bytes) -> bytes:
    """The read names of a block's header lines (one blob, newline after each) as
    :func:`read_name` keeps them (no comment, no `/1` or `/2`), made with a few C-level
    passes instead of one Python call per read: comparing the mates' keys checks a whole
    block at once."""
    if b" " in heads or b"\t" in heads:
        heads = _COMMENT.sub(b"", heads)
    return heads.replace(b"/1\n", b"\n").replace(b"/2\n", b"\n")


def single_batches(reader: FastqReader, max_reads: int = 20_000) -> Iterator[ReadBlock]:
    """Single-end reads, a block at a time."""
    return reader.blocks(max_reads)


@dataclass(frozen=True)
class ReadBlock:
    """A batch of reads as one buffer: the sequences back to back, where each one ends,
    and (for mate checks) the header lines. The k-mer screen reads the buffer whole; only
    the few reads it keeps become Python objects."""

    bases: bytes
    ends: np.ndarray
    heads: bytes = b""
    #: the first half are first mates, the second half their mates in the same order
    paired: bool = False

    def __len__(self) -> int:
        return len(self.ends)

    def read(self, i: int) -> bytes:
        start = int(self.ends[i - 1]) if i else 0
        return self.bases[start : int(self.ends[i])]

    def mate(self, i: int) -> int | None:
        """The index of read i's mate in this block (None for single-end reads)."""
        if not self.paired:
            return None
        half = len(self) // 2
        return i + half if i < half else i - half

    @classmethod
    def of(cls, reads: Sequence[bytes | str]) -> ReadBlock:
        blobs = [r.encode("ascii") if isinstance(r, str) else r for r in reads]
        return cls(b"".join(blobs), np.cumsum(np.fromiter(map(len, blobs), np.int64, len(blobs))))

    @classmethod
    def pair(cls, first: ReadBlock, second: ReadBlock) -> ReadBlock:
        """First mates and their mates (same count, same order) as one paired block."""
        return cls(
            first.bases + second.bases,
            np.concatenate((first.ends, second.ends + len(first.bases))),
            first.heads + second.heads,
            paired=True,
        )


def _gather(arr: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The byte ranges ``[starts, starts + lengths)`` of ``arr``, back to back.

    Rows of a sliding-window view are copied as whole runs (15x faster than indexing
    byte by byte); ranges shorter than the longest are trimmed by a mask."""
    if not len(starts):
        return arr[:0]
    longest = int(lengths.max())
    if longest == 0:
        return arr[:0]
    if 4 * longest > 5 * max(1, int(lengths.mean())):  # very uneven lengths: byte by byte
        offsets = np.cumsum(lengths) - lengths
        return arr[np.arange(int(lengths.sum())) + np.repeat(starts - offsets, lengths)]
    padded = arr if int(starts.max()) + longest <= len(arr) else np.concatenate((arr, np.zeros(longest, np.uint8)))
    rows = np.lib.stride_tricks.sliding_window_view(padded, longest)[starts]
    if (lengths == longest).all():
        return rows.ravel()
    return rows[np.arange(longest) < lengths[:, None]]


def _split_lines(data: bytes) -> list[bytes]:
    """A block's lines (slow path only: locating the error)."""
    return [line.rstrip(b"\r") for line in data.split(b"\n")[:-1]]
