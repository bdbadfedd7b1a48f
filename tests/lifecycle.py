"""Shared test data about the lifecycle."""
from __future__ import annotations

#: Legal moves that bring a fresh (Submitted) job into each status.
PATHS: dict[str, list[str]] = {
    "Submitted": [],
    "Running": ["Running"],
    "Completed": ["Running", "Completed"],
    "Error": ["Running", "Error"],
    "Archived": ["Running", "Completed", "Archived"],
    "Cancelled": ["Cancelled"],
}
