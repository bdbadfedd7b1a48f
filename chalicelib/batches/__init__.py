"""Batches (design §13): a sequencing run's samples submitted, followed and read together."""
