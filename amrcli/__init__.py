"""`amr`: the command-line client of the AMR prediction job service (design §14).

It talks to the HTTP API and, for uploads and downloads, straight to S3 through the
presigned URLs the API hands out. It imports nothing from the service (`chalicelib/`),
so `pip install .` gives a scientist the client without the Lambda code.
"""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("amr-client")
except metadata.PackageNotFoundError:  # run from a checkout without `pip install`
    __version__ = "0.1.0"
