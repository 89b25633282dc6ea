"""``diapsar info PRODUCT``: summary of a Sentinel-1 product (SAFE folder, zip, measurement TIFF, annotation)."""

from __future__ import annotations

import json

NAME = "info"
HELP = "summarise a Sentinel-1 product: mission, mode, swaths, bursts, times, orbit, footprint, missing files"
DESCRIPTION = (
    "Summarise a Sentinel-1 product.\n\n"
    "PRODUCT may be a .SAFE folder, a zipped SAFE, a measurement TIFF (its annotation must be\n"
    "../annotation/<same name>.xml) or an annotation XML. Files listed by the manifest but absent\n"
    "are reported."
)


def add_arguments(parser) -> None:
    parser.add_argument("product", metavar="PRODUCT", help="SAFE folder, zip, measurement TIFF or annotation XML")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def format_summary(s: dict, max_missing: int = 20) -> str:
    lines = [
        f"product        {s['name']}",
        f"path           {s['path']}",
        f"mission        {s['mission']}   mode {s['mode']}   type {s['product_type']}",
        f"start / stop   {s['start']}  {s['stop']}",
        f"orbit          absolute {s['absolute_orbit']}   relative {s['relative_orbit']}   pass {s['pass']}",
        f"swaths         {' '.join(s['swaths'])}",
        f"polarisations  {' '.join(s['polarisations'])}",
        "images:",
    ]
    for im in s["images"]:
        ids = [b for b in im["burst_ids"] if b is not None]
        id_txt = f" ids {ids[0]}..{ids[-1]}" if ids else ""
        extras = ", ".join(k for k in ("calibration", "noise") if im[k])
        lines.append(
            f"  {im['swath']:<4} {im['polarisation']}  {im['lines']} x {im['samples']}  "
            f"bursts {im['bursts']}{id_txt}  pixels {'yes' if im['pixels'] else 'no'}"
            + (f"  ({extras})" if extras else ""))
        if im.get("pixels_error"):
            lines.append(f"       unreadable measurement: {im['pixels_error']}")
    lines.append(f"footprint      {s['footprint_wkt'] or '(none)'}")
    missing = s["missing_files"]
    if missing:
        lines.append(f"missing files  {len(missing)} listed by the manifest but absent:")
        lines.extend(f"  {m}" for m in missing[:max_missing])
        if len(missing) > max_missing:
            lines.append(f"  ... and {len(missing) - max_missing} more (see --json)")
    else:
        lines.append("missing files  none")
    return "\n".join(lines)


def run(args) -> int:
    from ..io.safe import open_product

    with open_product(args.product) as product:
        summary = product.summary()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_summary(summary))
    return 0
