"""Jobs: the state machine, parameters, S3 layout, lifecycle policy and the job routes."""
