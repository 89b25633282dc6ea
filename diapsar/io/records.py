"""Step-completion records of a product folder (``.steps.json``): what lets a rerun skip finished steps."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..layout import STEPS_JSON
from .raster import plain, write_json


def params_hash(params: dict[str, Any]) -> str:
    """Short SHA-256 of a parameter dict (JSON, sorted keys)."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=plain).encode()).hexdigest()[:16]


class Steps:
    """Completion record of the steps of one folder (``.steps.json``): a step is skipped on a new run when its
    outputs exist and were made with the same parameters."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / STEPS_JSON
        self.done: dict[str, Any]
        try:
            self.done = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.done = {}

    def complete(self, step: str, params: dict[str, Any], files: Sequence[str]) -> bool:
        rec = self.done.get(step)
        return bool(rec and rec.get("params") == params_hash(params)
                    and all((self.folder / f).exists() for f in files))

    def record(self, step: str, params: dict[str, Any], files: Sequence[str], seconds: float, **extra: Any) -> None:
        try:  # merge with what other steps recorded since this record was read
            self.done = {**json.loads(self.path.read_text(encoding="utf-8")), **{k: v for k, v in self.done.items()
                                                                                   if k == step}}
        except (OSError, ValueError):
            pass
        self.done[step] = {"params": params_hash(params), "files": list(files), "seconds": round(seconds, 3),
                           **extra}
        write_json(self.path, self.done)
