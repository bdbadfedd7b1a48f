"""Local stack: the whole service on one machine, on an embedded AWS emulator.

`python -m local.stack` (what `make run` calls) starts moto's server in-process, serves the
Chalice app through Chalice's own local gateway, delivers upload-bucket events to the app's
S3 handler through an SQS queue inside the emulator, runs the app's schedules, and keeps
every table item and object in a state directory across restarts.

Nothing here is shipped to Lambda; the app code under `chalicelib/` runs unchanged.
"""
