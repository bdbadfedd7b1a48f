"""Prediction: the upload-event intake (API uploads, inbox drops, mate pairing), running a
job, input readers, reference databases, the assembly and reads (`reads/`) predictors, the
result types and their rendering."""
