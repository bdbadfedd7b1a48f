"""Streaming, validating FASTA reader for plain or gzip-compressed uploads.

Uploads can be hundreds of MB and arrive as an S3 ``StreamingBody``, so the
reader pulls fixed-size chunks from any binary file-like object, decompresses
on the fly when the gzip magic bytes are present, and yields one contig at a
time; only the current contig is held in memory.  Every problem with the input
raises :class:`InputError` whose message says what is wrong and where (file
name, line number), because the message is shown to the user as the job error.

Progress: :attr:`FastaReader.bytes_read` is the number of raw (possibly
compressed) bytes taken from the source so far; divided by the object's size it
gives the fraction of the input consumed (see :meth:`FastaReader.fraction`).
"""

from __future__ import annotations

import queue
import re
import threading
import zlib
from collections.abc import Iterator
from typing import BinaryIO, Protocol

import isal.isal_zlib as izlib

from chalicelib.core import bounds

GZIP_MAGIC = b"\x1f\x8b"
CHUNK_SIZE = 1 << 20

# IUPAC nucleotide codes plus gap, case-insensitive.
NUCLEOTIDE_CHARS = frozenset("ACGTUNRYKMSWBDHV-")
_INVALID_RE = re.compile(rb"[^ACGTUNRYKMSWBDHVacgtunrykmswbdhv\-]")
# Letters that are amino-acid codes but never nucleotide codes; when at least two
# and PROTEIN_FRACTION of a line's letters are such, the input is protein, not a typo.
_PROTEIN_RE = re.compile(rb"[EFILPQJOZXefilpqjozx*]")
PROTEIN_FRACTION = 0.10
_BOM = b"\xef\xbb\xbf"
_OTHER_FORMATS: tuple[tuple[bytes, str], ...] = (
    (b"\xfd7zXZ\x00", "xz-compressed data"),
    (b"BZh", "bzip2-compressed data"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data"),
    (b"@", "FASTQ"),
)


def read_ahead(chunks: Iterator[bytes], depth: int = 8) -> Iterator[bytes]:
    """The same chunks, produced by a thread of their own up to ``depth`` ahead.

    Reading the S3 stream and decompressing it release the GIL, so a reader thread runs
    them alongside the parsing and screening of earlier chunks (reads files are large and
    this is most of their cost). Errors (``InputError``) are raised in the consumer, in
    order; a consumer that stops early stops the thread at its next chunk."""
    out: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        out.put(("chunk", chunk), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            out.put(("end", None))
        except BaseException as exc:  # handed to the consumer, which raises it
            out.put(("error", exc))

    worker = threading.Thread(target=produce, name="read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = out.get()
            if kind == "end":
                return
            if kind == "error":
                raise value  # type: ignore[misc]
            yield value  # type: ignore[misc]
    finally:
        stop.set()


class Readable(Protocol):
    """Anything with ``read(n) -> bytes`` (open file, boto3 StreamingBody, BytesIO)."""

    def read(self, n: int = ..., /) -> bytes: ...


class InputError(ValueError):
    """The uploaded file is not acceptable; ``message`` is safe to show to the user."""

    def __init__(self, message: str) -> None:
        message = bounds.clip(message)  # it is stored as the job's error and logged
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _fmt_bytes(n: int) -> str:
    """Human-readable byte count for limit messages."""
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


class FastaReader:
    """Iterate ``(contig_id, sequence)`` pairs from a binary stream.

    ``name`` is the file name used in error messages.  ``max_bytes`` (optional)
    limits both the raw bytes read from ``stream`` and the decompressed bytes,
    so neither a huge upload nor a gzip bomb gets through.  Sequences are
    returned upper-case with line breaks removed; ids are the first word of the
    header line.  Iterate once.
    """

    def __init__(
        self,
        stream: Readable | BinaryIO,
        name: str = "input",
        max_bytes: int | None = None,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self._stream = stream
        self.name = name
        self.max_bytes = max_bytes
        self._chunk_size = max(1, chunk_size)
        self.bytes_read = 0  # raw bytes taken from the source
        self.bytes_decompressed = 0  # bytes after decompression (== bytes_read for plain input)
        self.is_gzip = False
        self.line_no = 0
        self.contigs = 0
        self.bases = 0
        self._started = False
        self._head = b""

    def fraction(self, total_size: int | None) -> float | None:
        """Fraction (0..1) of a ``total_size``-byte source consumed so far, or None if unknown."""
        if not total_size or total_size <= 0:
            return None
        return min(1.0, self.bytes_read / total_size)

    # -- byte level -------------------------------------------------------
    def _read_raw(self) -> bytes:
        data = self._stream.read(self._chunk_size)
        if data is None:
            data = b""
        self.bytes_read += len(data)
        if self.max_bytes is not None and self.bytes_read > self.max_bytes:
            raise InputError(f"{self.name}: file is larger than the limit of {_fmt_bytes(self.max_bytes)}")
        return data

    def _count_out(self, data: bytes) -> bytes:
        self.bytes_decompressed += len(data)
        if self.max_bytes is not None and self.bytes_decompressed > self.max_bytes:
            raise InputError(
                f"{self.name}: decompressed content is larger than the limit of {_fmt_bytes(self.max_bytes)}"
            )
        return data

    def _chunks(self) -> Iterator[bytes]:  # noqa: C901 - gzip members, size limit and errors in one pass
        """Decompressed chunks; handles multi-member gzip and detects truncation/corruption."""
        first = self._read_raw()
        while len(first) < 2:  # a stream may return short reads; make sure we can see the magic
            more = self._read_raw()
            if not more:
                break
            first += more
        self._head = first[:8]
        if not first.startswith(GZIP_MAGIC):
            if first:
                yield self._count_out(first)
            while True:
                data = self._read_raw()
                if not data:
                    return
                yield self._count_out(data)
        self.is_gzip = True
        pending = first
        d = izlib.decompressobj(16 + zlib.MAX_WBITS)
        while True:
            if not pending:
                pending = self._read_raw()
                if not pending:
                    break
            try:
                # Cap each output piece so a highly compressed chunk cannot balloon memory.
                out = d.decompress(pending, self._chunk_size)
                while True:
                    if out:
                        yield self._count_out(out)
                    if not d.unconsumed_tail:
                        break
                    out = d.decompress(d.unconsumed_tail, self._chunk_size)
            # misc: isal's stub declares izlib.error as a plain name; at run time it is an Exception
            except (zlib.error, izlib.error) as exc:  # type: ignore[misc]
                raise InputError(
                    f"{self.name}: corrupt gzip data near compressed byte {self.bytes_read} ({exc})"
                ) from None
            pending = b""
            if d.eof:
                rest = d.unused_data
                # Concatenated gzip members are legal; anything else after the end is garbage.
                if not rest:
                    rest = self._read_raw()
                if not rest:
                    return
                if not rest.startswith(GZIP_MAGIC[: len(rest)]):
                    raise InputError(f"{self.name}: unexpected data after the end of the gzip stream")
                d = izlib.decompressobj(16 + zlib.MAX_WBITS)
                pending = rest
        if not d.eof:
            raise InputError(f"{self.name}: gzip data is truncated (ended after {self.bytes_read} compressed bytes)")

    def _lines(self) -> Iterator[bytes]:
        """Lines without their line ending; pieces of a long line are joined once (no quadratic copy)."""
        pending: list[bytes] = []
        pending_size = 0
        limit = bounds.max_line_bytes()
        count = 0
        for chunk in self._chunks():
            if b"\n" not in chunk:
                pending.append(chunk)
                pending_size += len(chunk)
                self._check_line(pending, pending_size, count + 1, limit)
                continue
            lines = chunk.split(b"\n")
            if pending:
                pending_size += len(lines[0])
                self._check_line(pending, pending_size, count + 1, limit)
                pending.append(lines[0])
                lines[0] = b"".join(pending)
            tail = lines.pop()
            pending, pending_size = [tail], len(tail)
            count += len(lines)
            if len(chunk) > limit:  # only a chunk larger than the limit can hold a whole too-long line
                for i, line in enumerate(lines):
                    self._check_line([line], len(line), count - len(lines) + 1 + i, limit)
            self._check_line(pending, pending_size, count + 1, limit)
            yield from lines
        tail = b"".join(pending)
        if tail:
            yield tail

    def _check_line(self, pieces: list[bytes], size: int, line_no: int, limit: int) -> None:
        """Refuse a line past the limits before holding more of it (memory stays bounded)."""
        is_header = bool(pieces) and pieces[0][:1] == b">"
        if is_header and size > bounds.MAX_HEADER_BYTES:
            raise InputError(
                f"{self.name}, line {line_no}: header line longer than the limit of "
                f"{_fmt_bytes(bounds.MAX_HEADER_BYTES)}"
            )
        if size > limit:
            raise InputError(
                f"{self.name}, line {line_no}: line longer than the limit of {_fmt_bytes(limit)} (AMR_MAX_LINE_BYTES)"
            )

    # -- record level -----------------------------------------------------
    def _invalid(self, text: bytes, line_no: int) -> InputError:
        """Precise error for a sequence line containing non-nucleotide characters."""
        m = _INVALID_RE.search(text)
        assert m is not None
        col = m.start() + 1
        ch = chr(text[m.start()])
        letters = sum(1 for b in text if chr(b).isalpha())
        protein = len(_PROTEIN_RE.findall(text))
        if protein >= 2 and protein >= PROTEIN_FRACTION * letters:
            return InputError(
                f"{self.name}, line {line_no}: looks like protein, not nucleotide sequence "
                f"(character {ch!r} at column {col}); upload a nucleotide FASTA"
            )
        shown = repr(ch) if ch.isprintable() else f"0x{ord(ch):02x}"
        return InputError(
            f"{self.name}, line {line_no}: invalid character {shown} at column {col} "
            f"(allowed: IUPAC nucleotide codes ACGTUNRYKMSWBDHV and '-')"
        )

    def __iter__(self) -> Iterator[tuple[str, str]]:
        if self._started:
            raise RuntimeError("FastaReader can be iterated only once")
        self._started = True
        seen: dict[str, int] = {}
        cur_id: str | None = None
        cur_line = 0
        parts: list[bytes] = []
        part_lines: list[int] = []
        line_no = 0
        for raw in self._lines():
            line_no += 1
            line = raw.strip()
            if line_no == 1 and line.startswith(_BOM):
                line = line[len(_BOM) :].strip()
            if not line:
                continue
            if line[:1] == b">":
                self.line_no = line_no
                self._check_line([line], len(line), line_no, bounds.max_line_bytes())
                if cur_id is not None:
                    yield self._finish(cur_id, cur_line, parts, part_lines)
                cur_id = self._header_id(line, line_no)
                if cur_id in seen:
                    raise InputError(
                        f"{self.name}, line {line_no}: duplicate sequence id {bounds.quote(cur_id)} "
                        f"(first seen at line {seen[cur_id]})"
                    )
                seen[cur_id] = line_no
                cur_line = line_no
                parts = []
                part_lines = []
                continue
            if cur_id is None:
                raise self._not_fasta(line_no)
            parts.append(line)
            part_lines.append(line_no)
        self.line_no = line_no
        if cur_id is None:
            raise InputError(f"{self.name}: empty file, no FASTA sequences found")
        yield self._finish(cur_id, cur_line, parts, part_lines)

    def _not_fasta(self, line_no: int) -> InputError:
        """Error for content before the first header, naming other compression formats we can spot."""
        head = self._head
        for magic, fmt in _OTHER_FORMATS:
            if head.startswith(magic):
                return InputError(
                    f"{self.name}, line {line_no}: not a FASTA file (looks like {fmt}; "
                    "only plain or gzip-compressed FASTA is accepted)"
                )
        return InputError(
            f"{self.name}, line {line_no}: not a FASTA file (the first non-empty line must be a '>' header)"
        )

    def _header_id(self, line: bytes, line_no: int) -> str:
        """First word of a header line, which must be printable text."""
        try:
            text = line[1:].decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{self.name}, line {line_no}: header is not valid text") from None
        words = text.split()
        if not words:
            raise InputError(f"{self.name}, line {line_no}: header without a sequence id")
        if len(words[0]) > bounds.MAX_ID_CHARS:
            raise InputError(
                f"{self.name}, line {line_no}: sequence id longer than the limit of {bounds.MAX_ID_CHARS} "
                f"characters ({bounds.quote(words[0], 60)})"
            )
        return words[0]

    def _finish(self, cid: str, header_line: int, parts: list[bytes], part_lines: list[int]) -> tuple[str, str]:
        """Validate and assemble one record; the whole-record regex keeps the hot path in C."""
        seq = b"".join(parts)
        if _INVALID_RE.search(seq) is not None:
            # Locate the offending line only now, on the error path.
            for part, part_line in zip(parts, part_lines, strict=False):
                if _INVALID_RE.search(part) is not None:
                    raise self._invalid(part, part_line)
        if not seq:
            raise InputError(
                f"{self.name}, line {header_line}: sequence {bounds.quote(cid)} is empty (header with no sequence)"
            )
        self.contigs += 1
        self.bases += len(seq)
        return cid, seq.upper().decode("ascii")


def read_fasta(
    stream: Readable | BinaryIO, name: str = "input", max_bytes: int | None = None
) -> Iterator[tuple[str, str]]:
    """Convenience generator over :class:`FastaReader` (raises :class:`InputError`)."""
    yield from FastaReader(stream, name=name, max_bytes=max_bytes)
