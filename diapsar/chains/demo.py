"""``SAR_MultiSlc.py --demo OUTDIR``: simulate a small StripMap stack and run the chain on it.

The simulated scene (``diapsar.simulate``) is a shield volcano on a plain by the sea with a Mogi deformation
bump under the summit; the stack has a master and slaves with different baselines; the DEM is written like
SRTM (orthometric heights). The chain runs with orthorectification and Goldstein filtering on.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ..errors import OutputError

DEMO_DATES = 3
DEMO_SIZE = (1500, 1200)  # lines, samples (S3 beam: ~5 km along track x ~3 km slant range)


def demo_config(input_dir: Path, output_dir: Path, ram_mb: int | None = None) -> dict:
    """The chain configuration of the demo (written to OUTDIR/demo_config.json)."""
    return {
        "Global": {
            "in": {"Input_Path": str(input_dir), "DEM_Path": str(input_dir / "dem" / "dem.tif"), "Geoid": None,
                   "Mode": "SM", "Polarisation": "VV"},
            "out": {"Output_Path": str(output_dir)},
            "parameter": {"clean": "yes", "optram": int(ram_mb or 1000)},
        },
        "Pre_Processing": {"parameter": {"ML_ran": 3, "ML_azi": 3, "ML_gain": 0.1}},
        "DIn_SAR": {"parameter": {"GridStep_range": 60, "GridStep_azimut": 60, "Grid_Threshold": 0.3,
                                  "Grid_Gap": 1000, "Interferogram_gain": 0.1, "Activate_Interferogram": "yes"}},
        "Post_Processing": {"parameter": {"Activate_Ortho": "yes", "Spacingxy": 0.0001,
                                          "Activate_Filtering": "yes"}},
    }


def run_demo(outdir: str | Path, ram_mb: int | None = None, dates: int = DEMO_DATES,
             size: tuple[int, int] = DEMO_SIZE) -> int:
    from ..config import from_dict
    from ..simulate.api import simulate_stack
    from .multislc import run_chain

    t0 = time.perf_counter()
    out = Path(outdir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {out}: {exc.strerror or exc}") from None
    input_dir, output_dir = out / "input", out / "output"
    print(f"[1/2] simulating {dates} StripMap acquisitions ({size[0]} x {size[1]} px) in {input_dir} ...",
          file=sys.stderr, flush=True)
    if (input_dir / "truth" / "truth.json").exists():
        print("      already simulated, reusing it", file=sys.stderr)
    else:
        simulate_stack(input_dir, mode="sm", dates=dates, size=size, seed=0)
    raw = demo_config(input_dir, output_dir, ram_mb)
    (out / "demo_config.json").write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
    print(f"[2/2] running SAR_MultiSlc on it (config {out / 'demo_config.json'}) ...", file=sys.stderr, flush=True)
    cfg = from_dict(raw, base_dir=out, source=str(out / "demo_config.json"))
    run = run_chain(cfg)
    dt = time.perf_counter() - t0
    lines = [f"demo done in {dt:.0f} s. Results in {output_dir}:",
             f"  report:        {output_dir / 'index.html'}",
             f"  master:        {output_dir / run['master_directory']}"]
    for p in run["pairs"]:
        lines.append(f"  pair:          {output_dir / p} (interferogram.tif, interferogram_ortho.tif, "
                     "interferogram_filtered.tif, quicklook_*.png, pair.json)")
    lines.append(f"  truth of the simulation: {input_dir / 'truth'}")
    print("\n".join(lines))
    return 0
