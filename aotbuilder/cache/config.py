"""Cache settings: the size limit, from the environment, the cache's config file, or the default.

    AOTBUILDER_CACHE_MAX_SIZE=2G          # wins over the file
    <cache root>/config.toml:  max_size = "2G"
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

from aotbuilder.errors import GuestError

DEFAULT_MAX_SIZE = "5G"
MAX_SIZE_ENV = "AOTBUILDER_CACHE_MAX_SIZE"
CONFIG_FILE = "config.toml"
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([KMGT]?)(?:I?B)?\s*", re.IGNORECASE)


class CacheConfigError(GuestError):
    """A cache setting that cannot be used (the message names where it came from)."""


def parse_size(text: str) -> int:
    """Bytes in a size written as a number with an optional binary unit: 4096, 500M, 1.5G, 2GiB.

    K, M, G and T are powers of 1024 (as in du -h), with or without a trailing B or iB.
    """
    m = _SIZE.fullmatch(text)
    if m is None:
        raise ValueError(f"invalid size {text!r}: use a number of bytes with an optional unit K, M, G or T "
                         "(for example 500M or 1.5G)")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def format_size(n: int) -> str:
    for unit in ("T", "G", "M", "K"):
        if n >= _UNITS[unit]:
            return f"{n / _UNITS[unit]:.1f}{unit}"
    return f"{n}B"


def max_size(root: Path) -> int:
    """The cache's size limit in bytes: $AOTBUILDER_CACHE_MAX_SIZE, else max_size in
    <root>/config.toml, else DEFAULT_MAX_SIZE."""
    env = os.environ.get(MAX_SIZE_ENV)
    if env:
        return _parse_setting(env, MAX_SIZE_ENV)
    path = root / CONFIG_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return parse_size(DEFAULT_MAX_SIZE)
    except OSError as e:
        raise CacheConfigError(f"{path}: {e.strerror}") from None
    try:
        value = tomllib.loads(text).get("max_size", DEFAULT_MAX_SIZE)
    except tomllib.TOMLDecodeError as e:
        raise CacheConfigError(f"{path}: {e}") from None
    return value if isinstance(value, int) and value >= 0 else _parse_setting(str(value), f"{path}: max_size")


def _parse_setting(text: str, where: str) -> int:
    try:
        return parse_size(text)
    except ValueError as e:
        raise CacheConfigError(f"{where}: {e}") from None
