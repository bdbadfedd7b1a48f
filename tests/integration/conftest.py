"""Fixtures the prediction-function tests share (test_intake, test_runner, test_inbox)."""
from __future__ import annotations

from typing import Any

import pytest

from chalicelib.prediction import acquired as predictor
from chalicelib.prediction.resfinder_db import load_db
from tests.unit.test_acquired import KPC


@pytest.fixture
def predict_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts predictions actually started (the expensive step duplicates must not repeat)."""
    calls: list[str] = []
    real = predictor.predict_stream

    def counting(stream: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("name", ""))
        return real(stream, **kwargs)

    monkeypatch.setattr(predictor, "predict_stream", counting)
    return calls


@pytest.fixture(scope="module")
def kpc() -> str:
    return load_db().alleles[KPC].sequence
