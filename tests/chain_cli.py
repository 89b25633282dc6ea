"""Helpers of the chain tests: run SAR_MultiSlc.py in a subprocess, check a one-line error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: object, cwd: Path | None = None, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    """``SAR_MultiSlc.py ARGS`` of this checkout, output captured, Python warnings silenced."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, str(REPO / "SAR_MultiSlc.py"), *map(str, args)], capture_output=True,
                          text=True, cwd=cwd or REPO, timeout=timeout, env=env)


def one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    """The error is one line, the last one on stderr (progress lines of the log may precede it)."""
    lines = proc.stderr.strip().splitlines()
    err = lines[-1] if lines else ""
    print(err)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert sum("error" in ln.lower() for ln in lines) == 1, proc.stderr
    assert err.startswith("SAR_MultiSlc.py: error: ")
    for w in words:
        assert w in err, (w, err)
    return err
