"""Tests for the streaming FASTA reader: parsing, streaming behaviour and every InputError."""

from __future__ import annotations

import gzip
import io
import random

import pytest

from chalicelib.prediction.fasta import FastaReader, InputError, read_fasta


def _read(data: bytes, name: str = "x.fa", **kw: object) -> list[tuple[str, str]]:
    return list(FastaReader(io.BytesIO(data), name=name, **kw))  # type: ignore[arg-type]


def _error(data: bytes, name: str = "x.fa", **kw: object) -> str:
    with pytest.raises(InputError) as exc:
        _read(data, name=name, **kw)
    return str(exc.value)


class RecordingStream:
    """Binary stream that records read sizes, to prove the reader never slurps the input."""

    def __init__(self, data: bytes) -> None:
        self._buf = io.BytesIO(data)
        self.sizes: list[int] = []

    def read(self, n: int = -1) -> bytes:
        self.sizes.append(n)
        return self._buf.read(n)


def test_plain_multi_record_ids_are_first_word_and_sequence_upper() -> None:
    data = b">c1 some description\nacgt\nNNRY\n\n>c2\nGG-T\n"
    assert _read(data) == [("c1", "ACGTNNRY"), ("c2", "GG-T")]


def test_windows_line_endings_and_blank_lines() -> None:
    data = b"\r\n>a desc\r\nACGT\r\nAC\r\n\r\n>b\r\nT\r\n"
    assert _read(data) == [("a", "ACGTAC"), ("b", "T")]


def test_no_trailing_newline_and_lowercase_u() -> None:
    assert _read(b">a\nacgu") == [("a", "ACGU")]


def test_gzip_equals_plain_and_multi_member_gzip() -> None:
    plain = b">a\nACGT\n>b\nTTTT\n"
    assert _read(gzip.compress(plain), "x.fa.gz") == _read(plain)
    two = gzip.compress(b">a\nACGT\n") + gzip.compress(b">b\nTTTT\n")
    assert _read(two, "x.fa.gz") == [("a", "ACGT"), ("b", "TTTT")]


def test_streams_in_bounded_chunks_and_yields_lazily() -> None:
    rng = random.Random(1)
    contigs = [(f"c{i}", "".join(rng.choice("ACGT") for _ in range(5000))) for i in range(5)]
    text = "".join(f">{cid}\n" + "\n".join(s[j : j + 60] for j in range(0, len(s), 60)) + "\n" for cid, s in contigs)
    for payload in (text.encode(), gzip.compress(text.encode())):
        stream = RecordingStream(payload)
        reader = FastaReader(stream, name="x", chunk_size=1024)
        it = iter(reader)
        first = next(it)
        assert first == contigs[0]
        # Only part of the input has been read when the first contig is yielded.
        assert reader.bytes_read < len(payload)
        assert list(it) == contigs[1:]
        assert all(0 < n <= 1024 for n in stream.sizes)
        assert reader.bytes_read == len(payload)
        assert reader.fraction(len(payload)) == 1.0


def test_single_line_long_contig() -> None:
    seq = "ACGT" * 50_000
    assert _read(f">long\n{seq}\n".encode(), chunk_size=4096) == [("long", seq)]


def test_read_fasta_convenience() -> None:
    assert list(read_fasta(io.BytesIO(b">a\nAC\n"))) == [("a", "AC")]


# ---------------------------------------------------------------------------- errors


def test_empty_file() -> None:
    msg = _error(b"", "empty.fa")
    assert "empty.fa" in msg and "empty file" in msg


def test_blank_only_file() -> None:
    assert "no FASTA sequences" in _error(b"\n\n  \n", "blank.fa")


def test_not_fasta_names_line() -> None:
    msg = _error(b"\n\nid,value\n1,2\n", "table.csv")
    assert msg.startswith("table.csv, line 3: not a FASTA file")


def test_fastq_and_other_compression_are_named() -> None:
    assert "looks like FASTQ" in _error(b"@r1\nACGT\n+\nIIII\n")
    assert "xz-compressed" in _error(b"\xfd7zXZ\x00\x00\x04")
    assert "bzip2" in _error(b"BZh91AY&SY")


def test_record_with_empty_sequence_names_record_and_line() -> None:
    msg = _error(b">a\nACGT\n>b\n>c\nAC\n")
    assert msg == "x.fa, line 3: sequence 'b' is empty (header with no sequence)"
    assert "sequence 'z' is empty" in _error(b">a\nAC\n>z\n\n")


def test_invalid_character_line_and_column() -> None:
    msg = _error(b">a\nACGT\nACGT\nAC9T\n")
    assert msg.startswith("x.fa, line 4: invalid character '9' at column 3")


def test_single_stray_letter_is_invalid_not_protein() -> None:
    msg = _error(b">a\nACGTACGTEACGT\n")
    assert "invalid character 'E' at column 9" in msg and "protein" not in msg


def test_protein_detected() -> None:
    msg = _error(b">sp|P0|X\nMKTLLILAVVAAALAEQPFSIGQ\n", "prot.fa")
    assert msg.startswith("prot.fa, line 2: looks like protein")


def test_duplicate_ids() -> None:
    msg = _error(b">a x\nAC\n>b\nAC\n>a y\nGG\n")
    assert msg == "x.fa, line 5: duplicate sequence id 'a' (first seen at line 1)"


def test_header_without_id() -> None:
    assert "line 1: header without a sequence id" in _error(b">   \nACGT\n")


def test_truncated_gzip() -> None:
    data = gzip.compress(b">a\n" + b"ACGT" * 1000 + b"\n")
    msg = _error(data[: len(data) // 2], "t.fa.gz")
    assert msg.startswith("t.fa.gz: gzip data is truncated")


def test_corrupt_gzip() -> None:
    rng = random.Random(3)
    raw = ">a\n" + "".join(rng.choice("ACGT") for _ in range(20000)) + "\n"
    data = bytearray(gzip.compress(raw.encode()))
    for i in range(20, 60):
        data[i] ^= 0xFF
    msg = _error(bytes(data), "c.fa.gz")
    assert msg.startswith("c.fa.gz: corrupt gzip data") or "gzip" in msg


def test_garbage_after_gzip_stream() -> None:
    data = gzip.compress(b">a\nAC\n") + b"trailing junk"
    assert "after the end of the gzip stream" in _error(data)


def test_max_bytes_plain() -> None:
    msg = _error(b">a\n" + b"A" * 5000 + b"\n", "big.fa", max_bytes=1024, chunk_size=256)
    assert msg == "big.fa: file is larger than the limit of 1 kB"


def test_max_bytes_compressed_bytes_counted() -> None:
    # Stored (level 0) gzip is larger than its content: only the compressed count can trip.
    raw = b">a\n" + b"ACGT" * 1000 + b"\n"
    data = gzip.compress(raw, compresslevel=0)
    limit = len(raw) + 5
    assert len(raw) < limit < len(data)
    msg = _error(data, "big.fa.gz", max_bytes=limit, chunk_size=len(data))
    assert msg == f"big.fa.gz: file is larger than the limit of {limit} bytes"


def test_max_bytes_decompressed_gzip_bomb() -> None:
    data = gzip.compress(b">a\n" + b"A" * 3_000_000 + b"\n")
    assert len(data) < 1 << 20
    msg = _error(data, "bomb.fa.gz", max_bytes=1 << 20)
    assert msg == "bomb.fa.gz: decompressed content is larger than the limit of 1 MB"


def test_within_limit_ok() -> None:
    data = b">a\nACGT\n"
    assert _read(data, max_bytes=len(data)) == [("a", "ACGT")]


def test_binary_header_rejected() -> None:
    assert "header is not valid text" in _error(b">\xff\xfe\nACGT\n")
