"""The run report: per-pair quicklooks and ``<out>/index.html``, a self-contained page opened from disk.

The page reads ``<out>/run.json`` and each pair's ``pair.json`` (layout in the project brief) and shows, per
pair: dates, temporal and perpendicular baselines, height of ambiguity, ESD shift, quicklooks and links to the
products; for the run: parameters, versions, step timings and a perpendicular-baseline-versus-date plot.
No external script, font or style: CSS and a small script are inline, images are relative links.
Missing optional keys show as "–"; a missing file is said so in words rather than shown as a broken image.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from . import __version__
from .errors import DiapsarError, OutputError
from .io.atomic import atomic_path
from .log import get_logger
from .quicklook import (
    dates_text,
    looks_text,
    multilook_image,
    open_raster,
    pair_dates,
    render,
    resolve_image,
    uninformative,
)

QUICKLOOK_NAMES = {"amplitude": "quicklook_amplitude.png", "phase": "quicklook_phase.png",
                   "coherence": "quicklook_coherence.png", "ortho": "quicklook_ortho.png"}
BASELINE_PLOT = "baseline_plot.png"
DASH = "–"
# Longest side of a pair quicklook, in multilooked cells (the factors given are enlarged to stay below it).
QUICKLOOK_MAX_SIZE = 1500

log = get_logger("report")


# --------------------------------------------------------------------------------------------- quicklooks
def _capped_ml(ml: tuple[int, int], shape: tuple[int, int], max_size: int) -> tuple[int, int]:
    rows, cols = shape
    k = max(1, math.ceil(max(cols / ml[0], rows / ml[1]) / max_size))
    return int(ml[0]) * k, int(ml[1]) * k


def _raster_shape(path: str | os.PathLike) -> tuple[int, int]:
    src = resolve_image(path)
    with open_raster(src.gdal_path, src.display) as ds:
        return ds.height, ds.width


def write_pair_quicklooks(pair_dir: str | os.PathLike, interferogram_path: str | os.PathLike,
                          ml: tuple[int, int] = (1, 1), ortho_path: str | os.PathLike | None = None,
                          ram_mb: float = 512.0, max_size: int = QUICKLOOK_MAX_SIZE) -> dict[str, str | None]:
    """Write quicklook_amplitude/phase/coherence.png (and quicklook_ortho.png) into ``pair_dir``.

    ``ml`` multilooks the interferogram further (range, azimuth); it is enlarged when the quicklook would
    exceed ``max_size`` cells on its longest side. The titles give the pair's dates (tags ``master``/``slave``
    of the interferogram, else the ``<M>_m_<S>_s`` folder name) and the total looks relative to the SLC
    (the interferogram's ``ml_range``/``ml_azimuth`` tags times ``ml``). Returns ``{kind: file name relative
    to pair_dir or None}``, the ``quicklooks`` entry of pair.json.
    """
    pair_dir = Path(pair_dir)
    pair_dir.mkdir(parents=True, exist_ok=True)
    src = resolve_image(interferogram_path)
    ml_rg, ml_az = _capped_ml(ml, _raster_shape(interferogram_path), max_size)
    mlk = multilook_image(src, ml_rg, ml_az, ram_mb=ram_mb, for_display=True)
    name = Path(src.display).name
    dates = pair_dates(mlk.tags, Path(interferogram_path).resolve())
    head = dates_text(dates) or folder_label(pair_dir)
    out: dict[str, str | None] = {k: None for k in QUICKLOOK_NAMES}
    titles = {"amplitude": "amplitude (dB)", "phase": "wrapped phase x amplitude", "coherence": "coherence"}
    for kind in ("amplitude", "phase", "coherence"):
        if kind in mlk.bands:
            empty = uninformative(mlk, kind)
            if empty:
                log.warning("%s quicklook of %s shows nothing: %s", kind, interferogram_path, empty)
            render(mlk, pair_dir / QUICKLOOK_NAMES[kind], what=kind,
                   title=f"{head}: {titles[kind]}\n{name}, {looks_text(mlk)}")
            out[kind] = QUICKLOOK_NAMES[kind]
    if ortho_path is not None:
        osrc = resolve_image(ortho_path)
        o_rg, o_az = _capped_ml((1, 1), _raster_shape(ortho_path), max_size)
        omlk = multilook_image(osrc, o_rg, o_az, ram_mb=ram_mb, for_display=True)
        o_dates = pair_dates(omlk.tags, Path(ortho_path).resolve()) or dates
        render(omlk, pair_dir / QUICKLOOK_NAMES["ortho"], what="auto",
               title=f"{dates_text(o_dates) or folder_label(pair_dir)}: map\n{Path(osrc.display).name}, "
                     f"ML {o_rg}x{o_az} of the map grid")
        out["ortho"] = QUICKLOOK_NAMES["ortho"]
    return out


def folder_label(folder: Path) -> str:
    return f"pair {folder.name}"


# --------------------------------------------------------------------------------------------- reading
def _read_json(path: Path) -> tuple[dict | None, str | None]:
    """(content, problem): problem is a short sentence when the file is missing or unreadable."""
    if not path.is_file():
        return None, f"{path.name} is missing"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"{path.name} is unreadable ({exc})"
    if not isinstance(data, dict):
        return None, f"{path.name} does not hold a JSON object"
    return data, None


def _first(d: dict | None, *keys: str) -> Any:
    if not d:
        return None
    for k in keys:
        if d.get(k) is not None:
            return d[k]
    return None


def _pair_folders(out_dir: Path, run: dict | None) -> list[Path]:
    listed = _first(run, "pairs", "pair_folders", "pair_dirs")
    folders: list[Path] = []
    if isinstance(listed, list):
        for item in listed:
            if isinstance(item, dict):
                item = _first(item, "folder", "dir", "path", "name")
            if isinstance(item, str) and item:
                p = Path(item)
                folders.append(p if p.is_absolute() else out_dir / p)
    if not folders:
        folders = sorted(p.parent for p in out_dir.glob("*_m_*_s/pair.json"))
    return folders


def _parse_date(text: Any) -> dt.date | None:
    if not isinstance(text, str):
        return None
    for fmt in ("%Y%m%d", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(text[:10] if "-" in text else text[:8], fmt).date()
        except ValueError:
            continue
    return None


# --------------------------------------------------------------------------------------------- formatting
def _esc(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _num(v: Any, fmt: str = "{:.1f}", unit: str = "") -> str:
    if v is None or isinstance(v, bool):
        return DASH
    if isinstance(v, int | float):
        if isinstance(v, float) and not math.isfinite(v):
            return DASH
        return _esc(fmt.format(v) + (f" {unit}" if unit else ""))
    if isinstance(v, list | tuple):
        items = [_num(x, fmt) for x in v]
        return ", ".join(items) + (f" {_esc(unit)}" if unit and items else "") if items else DASH
    return _esc(v)


def _date(v: Any) -> str:
    d = _parse_date(v)
    return d.isoformat() if d else (DASH if v is None else _esc(v))


def _href(rel: str | Path) -> str:
    return _esc(quote(Path(rel).as_posix()))


def _size(p: Path) -> str:
    n = float(p.stat().st_size)
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def _flatten(d: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix, d


def _value(v: Any) -> str:
    if v is None:
        return DASH
    if isinstance(v, str):
        return _esc(v)
    return _esc(json.dumps(v))


def _kv_table(rows: Iterable[tuple[str, str]], cls: str = "kv") -> str:
    body = "".join(f"<tr><th>{_esc(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="{cls}">{body}</table>' if body else f'<p class="muted">{DASH}</p>'


def _timings_table(timings: Any) -> str:
    if not isinstance(timings, dict) or not timings:
        return f'<p class="muted">{DASH}</p>'
    rows = []
    total = 0.0
    given = timings.get("total")  # the chain records its wall-clock total: shown once, not added to itself
    for k, v in timings.items():
        if k == "total":
            continue
        if isinstance(v, int | float) and not isinstance(v, bool):
            total += float(v)
            rows.append((k, _num(v, "{:.1f}", "s")))
        else:
            rows.append((k, _value(v)))
    if isinstance(given, int | float) and not isinstance(given, bool):
        rows.append(("total (wall clock)", _num(given, "{:.1f}", "s")))
    else:
        rows.append(("total (sum of steps)", _esc(f"{total:.1f} s")))
    return _kv_table(rows, "kv timings")


# --------------------------------------------------------------------------------------------- baseline plot
def write_baseline_plot(pairs: list[dict], out_png: Path) -> Path | None:
    """Perpendicular baseline versus date: the master at 0 m, a line to each slave. None when nothing to plot."""
    pts = []
    for p in pairs:
        md, sd = _parse_date(p.get("master_date")), _parse_date(p.get("slave_date"))
        b = p.get("perpendicular_baseline_m")
        if md and sd and isinstance(b, int | float) and not isinstance(b, bool) and math.isfinite(b):
            pts.append((md, sd, float(b)))
    if not pts:
        return None
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.0, 3.6), dpi=100)
    ax = fig.add_axes((0.1, 0.17, 0.86, 0.72))
    masters = sorted({m for m, _, _ in pts})
    for m, s, b in pts:
        ax.plot([m, s], [0.0, b], color="#8aa4c8", lw=1, zorder=1)  # type: ignore[arg-type]  # matplotlib plots dates
    ax.scatter([s for _, s, _ in pts], [b for _, _, b in pts], s=36, color="#1f5fa8", zorder=2, label="slave")  # type: ignore[arg-type]  # matplotlib plots dates
    ax.scatter(masters, [0.0] * len(masters), s=110, marker="*", color="#d0021b", zorder=3, label="master")  # type: ignore[arg-type]  # matplotlib plots dates
    for _, s, b in pts:
        ax.annotate(s.strftime("%Y-%m-%d"), (s, b), textcoords="offset points", xytext=(4, 4), fontsize=7)
    for m in masters:
        ax.annotate(m.strftime("%Y-%m-%d"), (m, 0.0), textcoords="offset points", xytext=(4, -11), fontsize=7,
                    color="#d0021b")
    ax.axhline(0.0, color="#999999", lw=0.6, zorder=0)
    ax.set_ylabel("perpendicular baseline (m)")
    ax.set_title(f"Baselines of the stack ({len(pts)} pair{'s' if len(pts) != 1 else ''})", fontsize=10)
    loc = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(loc)
    # no offset text: matplotlib takes it from the right axis limit ("2023-Oct" under a September stack);
    # every point carries its full date instead
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc, show_offset=False))
    ax.set_xlabel("acquisition date", fontsize=9)
    dates = [d for m, s, _ in pts for d in (m, s)]
    span = max((max(dates) - min(dates)).days, 1)
    pad = dt.timedelta(days=max(3, span // 6))  # room for the date labels
    ax.set_xlim(min(dates) - pad, max(dates) + pad)  # type: ignore[arg-type]  # matplotlib plots dates
    ax.grid(True, lw=0.4, alpha=0.5)
    ax.legend(fontsize=8, loc="best")
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", facecolor="white")
    return out_png


# --------------------------------------------------------------------------------------------- html
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#1d2330;
background:#f4f6f9;line-height:1.4}
header{background:#17324d;color:#fff;padding:18px 28px}header h1{margin:0 0 4px;font-size:22px}
header .sub{opacity:.85;font-size:14px}main{padding:18px 28px;max-width:1500px}
section{background:#fff;border:1px solid #d9dee7;border-radius:6px;padding:14px 18px;margin:0 0 18px}
h2{font-size:18px;margin:0 0 10px}h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;font-size:13px}th,td{padding:3px 10px;border-bottom:1px solid #e6e9ef;
text-align:left;vertical-align:top}table.kv th{color:#4a5568;font-weight:600;white-space:nowrap}
table.summary th{background:#eef1f6}table.summary td.n{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#7a8494}.warn{background:#fff4e5;border:1px solid #f0b45b;padding:8px 12px;border-radius:4px}
.grid{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;flex:1 1 360px;max-width:520px}
figure img{width:100%;height:auto;border:1px solid #d9dee7;background:#fff}
figcaption{font-size:12px;color:#4a5568;text-align:center}.cols{display:flex;flex-wrap:wrap;gap:24px}
details summary{cursor:pointer;font-weight:600;font-size:14px;margin:6px 0}
#broken-banner{display:none}body.has-broken #broken-banner{display:block}
img.broken{outline:3px solid #d0021b}code{font-size:12px}
"""

# Marks images that failed to load (on the page and as data attributes a headless browser can read).
_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = document.images, broken = 0;
  for (var i = 0; i < imgs.length; i++) {
    if (!imgs[i].complete || imgs[i].naturalWidth === 0) { broken++; imgs[i].classList.add('broken'); }
  }
  document.body.setAttribute('data-images-total', String(imgs.length));
  document.body.setAttribute('data-broken-images', String(broken));
  if (broken) {
    document.body.classList.add('has-broken');
    document.getElementById('broken-count').textContent = String(broken);
  }
});
"""


def _pair_section(idx: int, folder: Path, out_dir: Path, pair: dict | None, problem: str | None,
                  notes: list[str], produced: dict | None = None) -> str:
    rel = os.path.relpath(folder, out_dir)
    parts = [f'<section id="pair-{idx}"><h2>{_esc(folder.name)}</h2>']
    if problem:
        parts.append(f'<p class="warn">{_esc(problem)}</p>')
    p = pair or {}
    rows = [
        ("master date", _date(p.get("master_date"))),
        ("slave date", _date(p.get("slave_date"))),
        ("temporal baseline", _num(p.get("temporal_baseline_days"), "{:.0f}", "days")),
        ("perpendicular baseline", _num(p.get("perpendicular_baseline_m"), "{:.1f}", "m")),
        ("parallel baseline", _num(p.get("parallel_baseline_m"), "{:.1f}", "m")),
        ("height of ambiguity", _num(p.get("height_of_ambiguity_m"), "{:.0f}", "m")),
        ("ESD shift", _num(p.get("esd_shift_lines"), "{:.4f}", "lines")),
        ("master", _value(p.get("master"))),
        ("slave", _value(p.get("slave"))),
        ("software version", _value(p.get("software_version"))),
    ]
    parts.append('<div class="cols"><div>' + _kv_table(rows) + "</div>")
    # products
    prod_rows = []
    products: dict[str, Any] = p["products"] if isinstance(p.get("products"), dict) else {}
    for key, val in products.items():
        if not val:
            prod_rows.append((key, DASH))
            continue
        f = folder / str(val)
        if f.exists():
            prod_rows.append((key, f'<a href="{_href(Path(rel) / str(val))}">{_esc(val)}</a> '
                                   f'<span class="muted">({_size(f) if f.is_file() else "folder"})</span>'))
        else:
            prod_rows.append((key, f'{_esc(val)} <span class="muted">(missing)</span>'))
    parts.append("<div><h3>Products</h3>" + _kv_table(prod_rows) + "</div></div>")
    # quicklooks: those just made, else those pair.json names, else (no such entry) the usual names found
    if produced:
        names = {k: v for k, v in produced.items() if v}
    elif isinstance(p.get("quicklooks"), dict):
        names = {k: v for k, v in p["quicklooks"].items() if v}
    else:
        names = {k: v for k, v in QUICKLOOK_NAMES.items() if (folder / v).is_file()}
    unw = p.get("unwrapping")
    if not isinstance(unw, dict):
        unw = {}
    if unw.get("quicklook"):  # the LOS displacement of the unwrapped phase (diapsar.unwrap)
        names["displacement"] = unw["quicklook"]
    figs = []
    for kind in ("amplitude", "phase", "coherence", "ortho", "displacement"):
        if kind not in names:
            continue
        name = str(names[kind])
        if (folder / name).is_file():
            href = _href(Path(rel) / name)
            figs.append(f'<figure><a href="{href}"><img src="{href}" alt="{_esc(kind)} quicklook of '
                        f'{_esc(folder.name)}"></a><figcaption>{_esc(kind)}</figcaption></figure>')
        else:
            figs.append(f'<figure><p class="warn">{_esc(kind)} quicklook {_esc(name)} is missing</p></figure>')
    parts.append("<h3>Quicklooks</h3>" + (f'<div class="grid">{"".join(figs)}</div>' if figs
                                            else f'<p class="muted">no quicklook {DASH}</p>'))
    for n in notes:
        parts.append(f'<p class="warn">{_esc(n)}</p>')
    parts.append("<details><summary>Step timings</summary>" + _timings_table(p.get("timings_s")) + "</details>")
    if isinstance(p.get("parameters"), dict) and p["parameters"]:
        parts.append("<details><summary>Pair parameters</summary>"
                     + _kv_table((k, _value(v)) for k, v in _flatten(p["parameters"])) + "</details>")
    parts.append("</section>")
    return "".join(parts)


def _maybe_quicklooks(folder: Path, pair: dict | None) -> tuple[list[str], dict | None]:
    """Make the pair's quicklooks from its interferogram when they are missing.

    Returns (notes for the page, the quicklooks made or None).
    """
    if pair is None:
        return [], None
    if isinstance(pair.get("quicklooks"), dict):
        wanted = [pair["quicklooks"].get(k) for k in ("amplitude", "phase", "coherence")]
    else:
        wanted = [QUICKLOOK_NAMES[k] for k in ("amplitude", "phase", "coherence")]
    if all(n and (folder / str(n)).is_file() for n in wanted):
        return [], None
    products: dict[str, Any] = pair["products"] if isinstance(pair.get("products"), dict) else {}
    ifg = folder / str(products.get("interferogram") or "interferogram.tif")
    if not ifg.is_file():
        return [], None
    ortho = products.get("ortho")
    ortho_path = folder / str(ortho) if ortho and (folder / str(ortho)).is_file() else None
    try:
        return [], write_pair_quicklooks(folder, ifg, ortho_path=ortho_path)
    except DiapsarError as exc:
        return [f"quicklooks could not be made from {ifg.name}: {exc}"], None
    except Exception as exc:  # noqa: BLE001 - the report must still be written
        log.warning("quicklooks of %s failed: %s", folder.name, exc)
        return [f"quicklooks could not be made from {ifg.name}: {type(exc).__name__}: {exc}"], None


def _not_processed(run: dict) -> str:
    """The pairs of the run that were not made: failed pairs (their one-line reason) and skipped slaves."""
    rows = []
    failed = run.get("failed_pairs")
    if isinstance(failed, dict):
        rows += [(name, "failed", reason) for name, reason in failed.items()]
    skipped = run.get("skipped_pairs")
    if isinstance(skipped, list):
        rows += [(_first(k, "slave_date", "slave") if isinstance(k, dict) else k, "skipped",
                  k.get("reason", "") if isinstance(k, dict) else "") for k in skipped]
    if not rows:
        return ""
    body = "".join(f'<tr><td>{_esc(n)}</td><td>{_esc(state)}</td><td>{_esc(why)}</td></tr>'
                   for n, state, why in rows)
    return (f'<h3 class="warn">{len(rows)} pair{"s" if len(rows) != 1 else ""} not processed</h3>'
            f'<table class="summary notdone"><tr><th>pair / slave</th><th>state</th><th>reason</th></tr>{body}'
            "</table>")


def write_report(out_dir: str | os.PathLike, make_missing_quicklooks: bool = True) -> Path:
    """Write ``<out_dir>/index.html`` (and ``baseline_plot.png``) from run.json and the pairs' pair.json."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise OutputError(f"run folder {out_dir} does not exist")
    run, run_problem = _read_json(out_dir / "run.json")
    folders = _pair_folders(out_dir, run)
    pairs: list[tuple[Path, dict | None, str | None, list[str], dict | None]] = []
    for folder in folders:
        pair, problem = _read_json(folder / "pair.json")
        notes, produced = _maybe_quicklooks(folder, pair) if make_missing_quicklooks else ([], None)
        pairs.append((folder, pair, problem, notes, produced))
    plot = write_baseline_plot([p for _, p, _, _, _ in pairs if p], out_dir / BASELINE_PLOT)
    if plot is None and (out_dir / BASELINE_PLOT).exists():
        (out_dir / BASELINE_PLOT).unlink()

    r = run or {}
    master = r.get("master")
    if isinstance(master, dict):
        master = _first(master, "name", "measurement", "date") or json.dumps(master)
    versions: dict[str, Any] = r["versions"] if isinstance(r.get("versions"), dict) else {}
    if not versions and r.get("software_version"):
        versions = {"diapsar": r.get("software_version")}
    created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    title = f"diapsar run {out_dir.resolve().name}"

    summary_rows = []
    for i, (folder, p, _, _, _) in enumerate(pairs):
        p = p or {}
        summary_rows.append(
            f'<tr><td><a href="#pair-{i}">{_esc(folder.name)}</a></td><td>{_date(p.get("master_date"))}</td>'
            f'<td>{_date(p.get("slave_date"))}</td>'
            f'<td class="n">{_num(p.get("temporal_baseline_days"), "{:.0f}")}</td>'
            f'<td class="n">{_num(p.get("perpendicular_baseline_m"), "{:.1f}")}</td>'
            f'<td class="n">{_num(p.get("height_of_ambiguity_m"), "{:.0f}")}</td>'
            f'<td class="n">{_num(p.get("esd_shift_lines"), "{:.4f}")}</td></tr>')
    summary = ('<table class="summary"><tr><th>pair</th><th>master</th><th>slave</th><th>B<sub>t</sub> (days)</th>'
               '<th>B<sub>⊥</sub> (m)</th><th>height of ambiguity (m)</th><th>ESD shift (lines)</th></tr>'
               + "".join(summary_rows) + "</table>") if summary_rows else '<p class="muted">no pair found</p>'

    doc = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title><style>{_CSS}</style><script>{_SCRIPT}</script></head><body>",
        f"<header><h1>{_esc(title)}</h1><div class=\"sub\">master {_value(master)} · {len(pairs)} "
        f"pair{'s' if len(pairs) != 1 else ''} · report written {created} by diapsar {_esc(__version__)}"
        "</div></header><main>",
        '<p id="broken-banner" class="warn"><span id="broken-count">0</span> image(s) of this page failed to '
        "load.</p>",
    ]
    if run_problem:
        doc.append(f'<p class="warn">{_esc(run_problem)}: run parameters, versions and timings are unknown.</p>')
    doc.append(f"<section><h2>Pairs</h2>{summary}")
    doc.append(_not_processed(r))
    if plot is not None:
        doc.append(f'<h3>Baselines</h3><figure style="max-width:820px"><img src="{_href(BASELINE_PLOT)}" '
                   'alt="perpendicular baseline versus date"></figure>')
    else:
        doc.append('<p class="muted">baseline plot: no pair with dates and perpendicular baseline</p>')
    doc.append("</section>")
    for i, (folder, p, problem, notes, produced) in enumerate(pairs):
        doc.append(_pair_section(i, folder, out_dir, p, problem, notes, produced))
    # the run
    doc.append("<section><h2>Run</h2><div class=\"cols\">")
    doc.append("<div><h3>Versions</h3>" + _kv_table((k, _value(v)) for k, v in versions.items()) + "</div>")
    timings = _first(r, "timings_s", "step_timings_s", "timings")
    doc.append("<div><h3>Step timings</h3>" + _timings_table(timings) + "</div></div>")
    params = r.get("parameters")
    doc.append("<details open><summary>Parameters</summary>"
               + (_kv_table((k, _value(v)) for k, v in _flatten(params)) if isinstance(params, dict) and params
                  else f'<p class="muted">{DASH}</p>') + "</details>")
    other = {k: v for k, v in r.items()
             if k not in ("parameters", "versions", "timings_s", "step_timings_s", "timings", "pairs", "master",
                          "failed_pairs", "skipped_pairs")}
    if other:
        doc.append("<details><summary>Other run information</summary>"
                   + _kv_table((k, _value(v)) for k, v in _flatten(other)) + "</details>")
    files = [f'<a href="{_href(n)}">{_esc(n)}</a> <span class="muted">({_size(out_dir / n)})</span>'
             for n in ("info.log", "run.json", "dem_scene.vrt") if (out_dir / n).is_file()]
    if files:
        doc.append("<p>Files: " + " · ".join(files) + "</p>")
    doc.append(f'<p class="muted">Output folder: <code>{_esc(out_dir.resolve())}</code></p>')
    doc.append("</section></main></body></html>")
    index = out_dir / "index.html"
    with atomic_path(index) as tmp:
        tmp.write_text("\n".join(doc), encoding="utf-8")
    return index
