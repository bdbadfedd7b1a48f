"""The analysis software's name and version, as result files and batch reports state them.

In core so that both the prediction (result files) and the batch workbook (its Settings
sheet) read one definition; the aligner's version is part of what produced a result.
"""

from __future__ import annotations

from functools import cache

SOFTWARE_NAME = "amr-predictor"
SERVICE_VERSION = "1.0.0"


@cache
def software_version() -> str:
    import mappy  # loaded on first use: the API function reads it only for a workbook

    return f"{SERVICE_VERSION}+mappy{getattr(mappy, '__version__', '')}"
