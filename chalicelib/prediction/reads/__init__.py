"""Reads mode (FASTQ): the reads predictor and what only it uses — the FASTQ reader, the
k-mer screen, allele families, pileups and end alignment."""
