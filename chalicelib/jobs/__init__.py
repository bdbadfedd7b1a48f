"""Jobs: the state machine, reads, the legacy import, parameters, S3 layout, lifecycle policy and the job routes."""
