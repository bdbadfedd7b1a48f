"""Operator tooling run from a checkout (not shipped to Lambda): the legacy import and
stage backups (design §16). Each tool writes into the stage the usual settings name."""
