"""The FASTQ reader: records, pairs, and every bad input named by file, record and problem."""
from __future__ import annotations

import gzip
import io

import pytest

from chalicelib.prediction.fasta import InputError
from chalicelib.prediction.reads.fastq import FastqReader, pair_batches, read_name, single_batches


def fq(*records: tuple[str, str], qual: str | None = None) -> bytes:
    return "".join(f"@{n}\n{s}\n+\n{qual if qual is not None else 'I' * len(s)}\n" for n, s in records).encode()


def reader(data: bytes, name: str = "r1.fq", **kwargs: int) -> FastqReader:
    return FastqReader(io.BytesIO(data), name=name, chunk_size=kwargs.pop("chunk_size", 7), **kwargs)


def test_reads_plain_and_gzip_in_small_chunks() -> None:
    data = fq(("a/1", "acgtn"), ("b/1 extra comment", "GGCCA")) + b"\n"
    for blob in (data, gzip.compress(data)):
        r = reader(blob)
        assert list(r) == [("a", "ACGTN"), ("b", "GGCCA")]
        assert (r.reads, r.bases, r.bytes_read) == (2, 10, len(blob))


def test_crlf_line_endings_are_accepted() -> None:
    assert list(reader(b"@a\r\nACGT\r\n+\r\nIIII\r\n")) == [("a", "ACGT")]


def test_read_names_drop_comment_and_mate_suffix() -> None:
    assert read_name(b"@M0:1:FC:1:1101:15589:1331 1:N:0:1") == "M0:1:FC:1:1101:15589:1331"
    assert read_name(b"@frag7/2") == "frag7"


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "r1.fq: empty file, no FASTQ reads found"),
        (b"\n\n", "r1.fq: empty file, no FASTQ reads found"),
        (fq(("a", "ACGT")) + b"@b\nACGT\n+\n", "r1.fq, record 2 (line 5): truncated record (the file ends before its quality line)"),
        (fq(("a", "ACGT")) + b"@b\nACGT\n", "r1.fq, record 2 (line 5): truncated record (the file ends before its '+' separator line)"),
        (b"@a\nACGT\n+\nIII\n", "r1.fq, record 1 (line 1): quality length 3 differs from sequence length 4"),
        (b"@a\nACGT\nIIII\n+\n", "r1.fq, record 1 (line 3): expected a '+' separator line"),
        (b">contig1\nACGTACGT\n", "r1.fq, record 1 (line 1): this is FASTA, not FASTQ"),
        (b"hello world\n", "r1.fq, record 1 (line 1): not a FASTQ file"),
        (fq(("a", "ACGT")) + b"ACGT\n" + fq(("b", "A")), "r1.fq, record 2 (line 5): expected an '@' header line"),
        (fq(("a", "ACGT"), ("b", "AC9T")), "r1.fq, record 2 (line 6): invalid base '9' at column 3"),
    ],
)
def test_bad_input_names_file_record_and_problem(data: bytes, message: str) -> None:
    with pytest.raises(InputError) as err:
        list(reader(data))
    assert err.value.message.startswith(message)


def test_truncated_gzip_is_an_error() -> None:
    blob = gzip.compress(fq(*[(f"r{i}", "ACGT" * 20) for i in range(200)]))
    with pytest.raises(InputError, match="r1.fq: gzip data is truncated"):
        list(reader(blob[: len(blob) // 2]))


def test_over_the_size_limit_is_an_error() -> None:
    data = fq(*[(f"r{i}", "ACGT" * 10) for i in range(50)])
    with pytest.raises(InputError, match="r1.fq: file is larger than the limit of 1 kB"):
        list(reader(data, max_bytes=1024))


def test_pairs_in_step() -> None:
    r1 = reader(fq(("x/1", "AAAA"), ("y/1", "CCCC")), "s_R1.fq")
    r2 = reader(fq(("x/2", "GGGG"), ("y/2", "TTTT")), "s_R2.fq")
    (block,) = list(pair_batches(r1, r2))
    assert [(block.read(i), block.read(block.mate(i))) for i in range(2)] == [(b"AAAA", b"GGGG"), (b"CCCC", b"TTTT")]


@pytest.mark.parametrize("max_pairs", [2, 10])  # the shorter mate ends between blocks, or inside one
@pytest.mark.parametrize("longer_first", [True, False])
def test_mates_with_different_read_counts(longer_first: bool, max_pairs: int) -> None:
    three, two = fq(("a", "A"), ("b", "C"), ("c", "G")), fq(("a", "A"), ("b", "C"))
    r1 = reader(three if longer_first else two, "s_R1.fq")
    r2 = reader(two if longer_first else three, "s_R2.fq")
    short = "s_R2.fq" if longer_first else "s_R1.fq"
    with pytest.raises(InputError) as err:
        list(pair_batches(r1, r2, max_pairs=max_pairs))
    assert err.value.message.startswith(f"mates have different read counts: {short} ends after 2 reads")
    assert "(record 3)" in err.value.message


def test_mates_with_mismatched_names() -> None:
    r1 = reader(fq(("a/1", "A"), ("b/1", "C")), "s_R1.fq")
    r2 = reader(fq(("a/2", "A"), ("z/2", "C")), "s_R2.fq")
    with pytest.raises(InputError, match=r"s_R1.fq and s_R2.fq, record 2: mate names do not match \('b' vs 'z'\)"):
        list(pair_batches(r1, r2, max_pairs=2))


def test_fasta_given_as_a_mate() -> None:
    r1 = reader(fq(("a/1", "ACGT")), "s_R1.fq")
    r2 = reader(b">a\nACGT\n", "s_R2.fq")
    with pytest.raises(InputError, match=r"s_R2.fq, record 1 \(line 1\): this is FASTA, not FASTQ"):
        list(pair_batches(r1, r2, max_pairs=2))


def test_pair_blocks_hold_both_mates_in_order_across_block_and_chunk_boundaries() -> None:
    names = [f"M1:{i} {m}:N:0:ACGT" for i in range(7) for m in (1,)]
    seqs1 = ["ACGT" * (i + 1) for i in range(7)]  # uneven lengths
    seqs2 = ["TTGCA"[: 1 + i % 5] * 3 for i in range(7)]
    r1 = reader(fq(*zip(names, seqs1)).replace(b"\n", b"\r\n"), "s_R1.fq", chunk_size=5)
    r2 = reader(fq(*((n.replace(" 1:", " 2:"), s) for n, s in zip(names, seqs2))), "s_R2.fq", chunk_size=11)
    blocks = list(pair_batches(r1, r2, max_pairs=3))
    assert [len(b) for b in blocks] == [6, 6, 2]
    got = [(b.read(i).decode(), b.read(b.mate(i)).decode()) for b in blocks for i in range(len(b) // 2)]
    assert got == list(zip(seqs1, seqs2))
    assert (r1.reads, r2.reads, r1.bases) == (7, 7, sum(map(len, seqs1)))


def test_pair_blocks_name_the_record_of_a_mismatch_in_a_later_block() -> None:
    r1 = reader(fq(*[(f"r{i}/1", "ACGT") for i in range(5)]), "s_R1.fq")
    r2 = reader(fq(*[(f"{'x' if i == 4 else 'r'}{i}/2", "ACGT") for i in range(5)]), "s_R2.fq")
    with pytest.raises(InputError, match=r"record 5: mate names do not match \('r4' vs 'x4'\)"):
        list(pair_batches(r1, r2, max_pairs=2))


def test_a_bad_record_in_a_later_block_is_named_by_its_number_and_line() -> None:
    records = [(f"r{i}", "ACGT") for i in range(9)]
    data = fq(*records).replace(b"@r7\nACGT\n+\nIIII", b"@r7\nACGT\n+\nIII")
    with pytest.raises(InputError, match=r"r1.fq, record 8 \(line 29\): quality length 3 differs from sequence length 4"):
        list(single_batches(reader(data), 3))


@pytest.mark.parametrize("lengths", [[150] * 6, [150, 149, 140, 150, 151, 145], [4, 150, 12, 0, 151, 33]])
def test_blocks_gather_every_read_whatever_the_lengths(lengths: list[int]) -> None:
    """Reads of one length, of nearly one length, and of very different lengths take
    different copying paths; each must come out whole and in order."""
    seqs = ["".join("ACGT"[(i * 7 + j) % 4] for j in range(n)) for i, n in enumerate(lengths)]
    (block,) = list(single_batches(reader(fq(*((f"r{i}", s) for i, s in enumerate(seqs))), chunk_size=1 << 16)))
    assert [block.read(i).decode() for i in range(len(block))] == seqs
