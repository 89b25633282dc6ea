"""Layout of the numba kernels: one home (``diapsar/kernels``), documented public kernels, no private imports.

The DEM intersection's two search coordinates are checked against each other on real geometry in
tests/test_89_fast_ml_geometry.py (``grid_ground_points`` vs ``rdr2geo_dem``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

PACKAGE = Path(__file__).resolve().parents[1] / "diapsar"
# numba code outside diapsar/kernels that has not moved yet (owned by the TOPS deramping work)
NOT_YET_MOVED = {"deramp.py"}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, ast.parse(path.read_text(), filename=str(path))


def _is_numba_decorator(node: ast.expr) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    name = ast.unparse(target)
    return name in ("numba.njit", "numba.jit", "njit", "jit", "numba.vectorize", "numba.guvectorize")


def test_no_module_imports_a_private_name():
    bad = []
    for path, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        bad.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} imports {alias.name}")
    assert not bad, "\n".join(bad)


def test_numba_kernels_live_in_the_kernels_package():
    outside = []
    kernels = 0
    for path, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and any(_is_numba_decorator(d) for d in node.decorator_list):
                if path.parent.name == "kernels":
                    kernels += 1
                    if not node.name.startswith("_"):  # public kernels say what they compute
                        assert ast.get_docstring(node), f"{path.name}: kernel {node.name} has no docstring"
                elif path.name not in NOT_YET_MOVED:
                    outside.append(f"{path.relative_to(PACKAGE.parent)}: {node.name}")
    assert not outside, "numba functions outside diapsar/kernels:\n" + "\n".join(outside)
    assert kernels >= 45


def test_no_kernel_is_compiled_with_fastmath():
    """fastmath lets LLVM rewrite floating-point arithmetic, and numba compiles a parallel kernel's body twice
    (the copy run by the compiling process, the copy written to the cache): the two may then round
    differently, so products would depend on the state of the numba cache (tests/test_95_reproducible.py)."""
    bad = []
    for path, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _is_numba_decorator(node):
                if any(k.arg == "fastmath" for k in node.keywords):
                    bad.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert not bad, "kernels compiled with fastmath: " + ", ".join(bad)


def test_geometry_reexports_the_scalar_kernels():
    from diapsar import geometry
    from diapsar.kernels import dem, geodesy, orbit_state, range_doppler

    assert geometry.llh_to_ecef_1 is geodesy.llh_to_ecef_1
    assert geometry.ecef_to_llh_1 is geodesy.ecef_to_llh_1
    assert geometry.zero_doppler_1 is range_doppler.zero_doppler
    assert geometry.rdr2geo_1 is range_doppler.rdr2geo_1
    assert geometry.interp_pva is orbit_state.interp_pva
    # the bilinear DEM lookup of the intersection is the one of DemPatch.height_at
    from diapsar.dem_projection import DemPatch

    rng = np.random.default_rng(3)
    h = rng.uniform(0, 500, (7, 9))
    h[3, 4] = np.nan
    patch = DemPatch(h, (10.0, 0.01, 0.0, 45.0, 0.0, -0.01))
    lon = rng.uniform(9.99, 10.1, 200)
    lat = rng.uniform(44.92, 45.01, 200)
    ref = patch.height_at(lon, lat)
    got = np.array([dem.dem_height(h, 10.0, 0.01, 45.0, -0.01, a, b) for a, b in zip(lon, lat)])
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)
    assert np.array_equal(np.isnan(got), np.isnan(ref))
