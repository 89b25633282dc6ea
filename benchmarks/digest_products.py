"""Digest of every raster product of the demo stack, for checking that a change keeps products byte-identical.

    python benchmarks/digest_products.py WORKDIR [--out digest.json] [--compare OTHER.json]

Simulates the demo StripMap stack once in WORKDIR/input (reused when present) and runs the chain on it in four
variants (the demo configuration; full mode with the correlation grid; coregistration only; a region of
interest with other multilook factors), then prints the SHA-256 of every GeoTIFF and text product of each run.
With --compare, exits 1 when any digest differs from OTHER.json (the digest of an earlier code version).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diapsar.chains.demo import demo_config  # noqa: E402
from diapsar.config import from_dict  # noqa: E402
from diapsar.simulate.api import simulate_stack  # noqa: E402

SIZE = (900, 700)


def variants(input_dir: Path, out: Path) -> dict[str, dict]:
    base = demo_config(input_dir, out / "demo", ram_mb=300)
    full = copy.deepcopy(base)
    full["Global"]["out"]["Output_Path"] = str(out / "full_correlation")
    full["Global"]["parameter"]["clean"] = "no"
    full["DIn_SAR"]["parameter"]["Grid_Advantage"] = "correlation"
    coreg = copy.deepcopy(base)
    coreg["Global"]["out"]["Output_Path"] = str(out / "coregistration_only")
    coreg["DIn_SAR"]["parameter"]["Activate_Interferogram"] = "no"
    coreg["Post_Processing"]["parameter"]["Activate_Ortho"] = "no"
    ml = copy.deepcopy(base)
    ml["Global"]["out"]["Output_Path"] = str(out / "ml4x2")
    ml["Pre_Processing"]["parameter"].update(ML_ran=4, ML_azi=2)
    ml["DIn_SAR"]["parameter"].update(GridStep_range=64, GridStep_azimut=64)
    return {"demo": base, "full_correlation": full, "coregistration_only": coreg, "ml4x2": ml}


def digest(folder: Path, work: Path) -> dict[str, str]:
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.suffix in (".tif", ".txt", ".vrt") and not p.name.startswith("."):
            data = p.read_bytes()
            if p.suffix == ".vrt":  # a VRT names its source files: compare it independently of WORKDIR
                data = data.replace(str(work.resolve()).encode(), b"WORKDIR")
            out[str(p.relative_to(folder))] = hashlib.sha256(data).hexdigest()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workdir")
    ap.add_argument("--out", help="write the digests to this JSON file")
    ap.add_argument("--compare", help="digests of an earlier run to compare with")
    args = ap.parse_args()
    work = Path(args.workdir)
    input_dir = work / "input"
    if not (input_dir / "truth" / "truth.json").exists():
        simulate_stack(input_dir, mode="sm", dates=3, size=SIZE, seed=0)
    from diapsar.chains.multislc import run_chain

    result: dict[str, dict[str, str]] = {}
    for name, raw in variants(input_dir, work / "runs").items():
        shutil.rmtree(raw["Global"]["out"]["Output_Path"], ignore_errors=True)
        run_chain(from_dict(raw, base_dir=work, source=name))
        result[name] = digest(Path(raw["Global"]["out"]["Output_Path"]), work)
        print(f"{name}: {len(result[name])} products")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    if args.compare:
        ref = json.loads(Path(args.compare).read_text())
        bad = [(v, f) for v in ref for f in ref[v] if result.get(v, {}).get(f) != ref[v][f]]
        bad += [(v, f) for v in result for f in result[v] if f not in ref.get(v, {})]
        for v, f in bad:
            print(f"DIFFERENT: {v}/{f}")
        n = sum(len(x) for x in ref.values())
        print(f"{n - len(bad)} of {n} products byte-identical")
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
