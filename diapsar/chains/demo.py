"""``SAR_MultiSlc.py --demo OUTDIR [--demo-mode iw|sm]``: simulate a small stack and run the chain on it.

The simulated scene (``diapsar.simulate``) is a shield volcano on a plain by the sea with a Mogi deformation
bump under the summit; the stack has a master and slaves with different baselines; the DEM is written like
SRTM (orthometric heights). IW (the default): one swath (IW1) of 3 bursts, 3 dates, the second slave's data
0.03 line later than its annotation says (a timing error only ESD can find). SM: a S3 StripMap stack. The chain
runs with orthorectification and Goldstein filtering on.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import OutputError

DEMO_DATES = 3
DEMO_SIZE = (1500, 1200)  # SM: lines, samples (S3 beam: ~5 km along track x ~3 km slant range)
IW_SAMPLES = 1000  # IW: samples of the swath (~2.3 km slant range)
IW_BURSTS = 3
IW_LINES_PER_BURST = 500  # shorter than a real IW burst (~1500 lines) to keep the demo within a minute
IW_TIMING_ERROR = (0.0, 0.0, 0.03)  # lines, per date


def demo_config(input_dir: Path, output_dir: Path, ram_mb: int | None = None, mode: str = "sm") -> dict[str, Any]:
    """The chain configuration of the demo (written to OUTDIR/demo_config.json)."""
    iw = mode == "iw"
    return {
        "Global": {
            "in": {"Input_Path": str(input_dir), "DEM_Path": str(input_dir / "dem" / "dem.tif"), "Geoid": None,
                   "Mode": "IW" if iw else "SM", "Polarisation": "VV"},
            "out": {"Output_Path": str(output_dir)},
            "parameter": {"clean": "yes", "optram": int(ram_mb or 1000)},
        },
        "Pre_Processing": {"parameter": {"ML_ran": 8 if iw else 3, "ML_azi": 2 if iw else 3, "ML_gain": 0.1}},
        "DIn_SAR": {"parameter": {"GridStep_range": 64 if iw else 60, "GridStep_azimut": 64 if iw else 60,
                                  "Grid_Threshold": 0.3, "Grid_Gap": 1000, "Interferogram_gain": 0.1,
                                  "Activate_Interferogram": "yes", **({"ESD_iter": 2} if iw else {})}},
        "Post_Processing": {"parameter": {"Activate_Ortho": "yes", "Spacingxy": 0.0001,
                                          "Activate_Filtering": "yes"}},
    }


def run_demo(outdir: str | Path, ram_mb: int | None = None, dates: int = DEMO_DATES,
             size: tuple[int, int] = DEMO_SIZE, mode: str = "iw") -> int:
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
    if mode == "iw":
        what = f"{dates} IW acquisitions (IW1, {IW_BURSTS} bursts of {IW_LINES_PER_BURST} lines x {IW_SAMPLES} samples)"
    else:
        what = f"{dates} StripMap acquisitions ({size[0]} x {size[1]} px)"
    print(f"[1/2] simulating {what} in {input_dir} ...", file=sys.stderr, flush=True)
    truth_json = input_dir / "truth" / "truth.json"
    if truth_json.exists() and json.loads(truth_json.read_text()).get("mode") == mode:
        print("      already simulated, reusing it", file=sys.stderr)
    elif truth_json.exists():
        raise OutputError(f"{input_dir} holds a simulated {json.loads(truth_json.read_text()).get('mode')} stack: "
                          f"give another OUTDIR for the {mode} demo")
    elif mode == "iw":
        simulate_stack(input_dir, mode="iw", dates=dates, size=(0, IW_SAMPLES), bursts=IW_BURSTS,
                       lines_per_burst=IW_LINES_PER_BURST, seed=0, timing_error_lines=list(IW_TIMING_ERROR[:dates]))
    else:
        simulate_stack(input_dir, mode="sm", dates=dates, size=size, seed=0)
    raw = demo_config(input_dir, output_dir, ram_mb, mode)
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
