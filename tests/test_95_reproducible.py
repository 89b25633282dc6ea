"""Products are bit-identical whatever the state of numba's cache and the number of threads.

A small simulated StripMap stack is processed by the chain (demo configuration: ortho and Goldstein filtering
on) in three subprocesses: with an empty numba cache (every kernel compiled in that process), again with the
cache it left (every kernel loaded from it), and with that cache on another number of threads. Every GeoTIFF
of the three runs must be byte-identical.

Why it could differ: with ``fastmath`` LLVM may rewrite floating-point arithmetic, and numba compiles the
body of a parallel kernel twice (the copy the compiling process runs, and a copy optimised again inside the
caller's module, which is what the cache stores): the two copies then round differently and a first run
(empty cache) differed from later ones by up to ~1e-5 in interferogram amplitude and phase. No kernel uses
fastmath now (tests/test_24_kernels.py), and the geometry kernels' chunking depends on the number of points,
not on the thread count.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

RUN_CHAIN = """
import json, sys
from pathlib import Path
from diapsar.chains.multislc import run_chain
from diapsar.config import from_dict
path = Path(sys.argv[1])
run_chain(from_dict(json.loads(path.read_text()), base_dir=path.parent, source=str(path)))
"""


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.tif"))}


@pytest.mark.slow
def test_products_do_not_depend_on_numba_cache_or_threads(tmp_path):
    from diapsar.chains.demo import demo_config
    from diapsar.simulate.api import simulate_stack

    input_dir = tmp_path / "input"
    simulate_stack(input_dir, mode="sm", dates=2, size=(300, 260), seed=3)
    out = tmp_path / "output"  # every run writes to the same path (products may name their own folder)
    raw = demo_config(input_dir, out, ram_mb=300)
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(raw))
    cache = tmp_path / "numba_cache"
    cache.mkdir()

    runs = {}
    for name, threads in (("cold", 2), ("warm", 2), ("warm_1_thread", 1)):
        env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), NUMBA_NUM_THREADS=str(threads),
                   PYTHONPATH=os.pathsep.join([str(REPO)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "-c", RUN_CHAIN, str(cfg)], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=1200)
        dt = time.perf_counter() - t0
        assert res.returncode == 0, f"{name} run failed:\n{res.stderr[-3000:]}"
        print(f"{name} run ({threads} threads): {dt:.1f} s")
        if name == "cold":
            assert any(cache.rglob("*.nbi")), "the first run did not fill the numba cache"
            n_cached = len(list(cache.rglob("*.nbc")))
        elif name == "warm":
            # everything was loaded from the cache: nothing new compiled
            assert len(list(cache.rglob("*.nbc"))) == n_cached
        runs[name] = _digests(out)
        shutil.move(str(out), str(tmp_path / f"output_{name}"))

    products = runs["cold"]
    for kind in ("interferogram.tif", "interferogram_ortho.tif", "interferogram_filtered.tif",
                 "interferogram_filtered_ortho.tif"):
        assert any(p.endswith("/" + kind) for p in products), f"no {kind} among {sorted(products)}"
    for name in ("warm", "warm_1_thread"):
        assert runs[name].keys() == products.keys()
        different = [p for p in products if runs[name][p] != products[p]]
        assert not different, f"{name} run differs from the cold run: {different}"
