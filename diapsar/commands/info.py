"""``diapsar info PRODUCT``: summary of a Sentinel-1 product (SAFE folder, zip, measurement TIFF, annotation)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

NAME = "info"
# Whole lines read per measurement to tell real pixels from zero-filled or constant TIFFs (S1 TIFFs are
# stored one line per strip: 16 lines of an IW swath are about 1.5 MB to decode).
SAMPLE_LINES = 16
HELP = "summarise a Sentinel-1 product: mission, mode, swaths, bursts, times, orbit, footprint, missing files"
DESCRIPTION = (
    "Summarise a Sentinel-1 product.\n\n"
    "PRODUCT may be a .SAFE folder, a zipped SAFE, a measurement TIFF (its annotation must be\n"
    "../annotation/<same name>.xml) or an annotation XML. Files listed by the manifest but absent\n"
    "are reported. Image sizes are lines (azimuth) x samples (range).\n\n"
    f"Pixels are checked cheaply: {SAMPLE_LINES} whole lines spread over each measurement are read; when\n"
    "all of them are zero (metadata-only products shipped with zero-filled TIFFs) or hold one constant\n"
    "value, info says so."
)


def add_arguments(parser) -> None:
    parser.add_argument("product", metavar="PRODUCT", help="SAFE folder, zip, measurement TIFF or annotation XML")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def sample_pixels(reader: Any, n_lines: int = SAMPLE_LINES) -> dict[str, Any]:
    """Whether a measurement holds varying pixels, from ``n_lines`` whole lines spread over the image.

    Returns ``{"content": "all zero" | "constant" | "varying", "value": the constant (None unless constant;
    [re, im] for complex), "sampled_lines": lines read}``; stops at the first line that shows two values.
    """
    h, w = reader.shape
    rows = sorted({int(r) for r in np.linspace(0, h - 1, min(n_lines, h)).round()})
    first: Any = None
    read = 0
    for r in rows:
        line = reader.read((r, 0, 1, w))
        read += 1
        if first is None:
            first = line.flat[0]
        if np.any(line != first):
            return {"content": "varying", "value": None, "sampled_lines": read}
    if first == 0:
        return {"content": "all zero", "value": None, "sampled_lines": read}
    value = [float(first.real), float(first.imag)] if np.iscomplexobj(first) else float(first)
    return {"content": "constant", "value": value, "sampled_lines": read}


def add_pixel_samples(product: Any, summary: dict) -> None:
    """Add ``pixels_content``, ``pixels_constant_value`` and ``pixels_sampled_lines`` to each image."""
    from ..errors import ProductError

    for im in summary["images"]:
        im.update(pixels_content=None, pixels_constant_value=None, pixels_sampled_lines=0)
        if not im["pixels"]:
            continue
        try:
            s = sample_pixels(product.measurement(im["swath"], im["polarisation"]))
        except ProductError as exc:
            im["pixels"], im["pixels_error"] = False, str(exc)
            continue
        im.update(pixels_content=s["content"], pixels_constant_value=s["value"],
                  pixels_sampled_lines=s["sampled_lines"])


def _value_text(v: Any) -> str:
    if isinstance(v, list):
        return f"{v[0]:g}{v[1]:+g}j"
    return f"{v:g}"


def pixels_text(im: dict) -> str:
    """``pixels: ...`` for one image of the summary."""
    content = im.get("pixels_content")
    if not im["pixels"]:
        return "pixels: no" + ("" if im.get("pixels_error") else " (measurement missing or 0 bytes)")
    n = im.get("pixels_sampled_lines", 0)
    if content == "all zero":
        return f"pixels: all zero in {n} sampled lines (metadata-only product?)"
    if content == "constant":
        return f"pixels: constant {_value_text(im['pixels_constant_value'])} in {n} sampled lines (synthetic?)"
    return "pixels: yes"


def format_summary(s: dict, max_missing: int = 20) -> str:
    lines = [
        f"product        {s['name']}",
        f"path           {s['path']}",
        f"mission        {s['mission']}   mode {s['mode']}   type {s['product_type']}",
        f"start / stop   {s['start']}  {s['stop']}",
        f"orbit          absolute {s['absolute_orbit']}   relative {s['relative_orbit']}   pass {s['pass']}",
        f"swaths         {' '.join(s['swaths'])}",
        f"polarisations  {' '.join(s['polarisations'])}",
        "images         (size in lines x samples)",
    ]
    for im in s["images"]:
        ids = [b for b in im["burst_ids"] if b is not None]
        id_txt = f" ids {ids[0]}..{ids[-1]}" if ids else ""
        extras = ", ".join(k for k in ("calibration", "noise") if im[k])
        lines.append(
            f"  {im['swath']:<4} {im['polarisation']}  {im['lines']} lines x {im['samples']} samples  "
            f"bursts {im['bursts']}{id_txt}  {pixels_text(im)}"
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
        add_pixel_samples(product, summary)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_summary(summary))
    return 0
