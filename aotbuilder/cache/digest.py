"""xxh3-128 digests of input lists, files and aotbuilder's own sources: what every cache key and
build stamp is made of.  No translator imports: `run` of a built program hashes its inputs with
these before anything heavier is loaded."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

import xxhash

import aotbuilder

PACKAGE = Path(aotbuilder.__file__).parent


def feed(h: xxhash.xxh3_128, *parts: bytes) -> None:
    # Length-prefixed, so no two different input lists hash the same byte stream.
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)


def digest_of(parts: Iterable[bytes]) -> str:
    """xxh3-128 (hex) of a list of inputs."""
    h = xxhash.xxh3_128()
    feed(h, *parts)
    return h.hexdigest()


def file_digest(path: Path) -> str:
    """xxh3-128 (hex) of a file's bytes."""
    h = xxhash.xxh3_128()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def guest_digest(data: bytes) -> str:
    """Names a guest program in its learned-entries file (and the executable, aot_guest_digest)."""
    return xxhash.xxh3_128_hexdigest(data)


@cache
def source_digest(parts: tuple[str, ...]) -> str:
    """xxh3-128 of the named package files (directories: every .py below), names included."""
    h = xxhash.xxh3_128()
    for part in parts:
        path = PACKAGE / part
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for f in files:
            feed(h, f.relative_to(PACKAGE).as_posix().encode(), f.read_bytes())
    return h.hexdigest()
