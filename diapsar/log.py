"""Logging and progress shared by chains: messages go to the console and to ``<out>/info.log``."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

LOGGER_NAME = "diapsar"


def get_logger(name: str | None = None) -> logging.Logger:
    return logging.getLogger(LOGGER_NAME if not name else f"{LOGGER_NAME}.{name}")


def setup_logging(out_dir: str | Path | None = None, verbose: bool = False) -> logging.Logger:
    """Log INFO to stderr and, when ``out_dir`` is given, everything to ``out_dir/info.log`` (appended)."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.DEBUG)
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if verbose else logging.INFO)
    console.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(console)
    if out_dir is not None:
        path = Path(out_dir) / "info.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(path, mode="a", encoding="utf-8")
        fh.setLevel(logging.DEBUG)
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(fh)
    logger.propagate = False
    return logger


def progress(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "block") -> Iterator[T]:
    """A tqdm progress bar on stderr (hidden when stderr is not a terminal) that logs start and end."""
    from tqdm import tqdm

    log = get_logger()
    log.debug("%s: start", desc)
    bar = tqdm(iterable, desc=desc, total=total, unit=unit, file=sys.stderr, leave=False,
               disable=not sys.stderr.isatty())
    yield from bar
    log.debug("%s: done", desc)
