"""Configuration of the SAR_MultiSlc chain: JSON file -> schema validation -> typed dataclasses.

The JSON Schema ``config/multislc.schema.json`` is the single description of every key (type, default,
meaning). This module validates a configuration against it, adds the checks a schema cannot express (grid steps
that are multiples of the multilook factors, date order), fills the defaults and returns a ``MultiSlcConfig``.
Every problem is reported as one ``ConfigError`` line naming the key.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

# shipped inside the package (installed with it); config/multislc.schema.json in the repository links to it
SCHEMA_PATH = Path(__file__).resolve().parent / "data" / "multislc.schema.json"

_TRUE = {"yes", "true"}
_FALSE = {"no", "false"}


def load_schema() -> dict:
    try:
        return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    except OSError as exc:  # an installation without the config/ folder
        raise ConfigError(f"configuration schema {SCHEMA_PATH} not found: {exc.strerror or exc}") from None


def to_bool(value: Any, key: str = "value") -> bool:
    """DiapOTB booleans: JSON booleans or the strings yes/no/true/false (any case)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE:
        return True
    if isinstance(value, str) and value.strip().lower() in _FALSE:
        return False
    raise ConfigError(f"{key}: {value!r} is not a boolean (use true/false or \"yes\"/\"no\")")


def parse_date(value: str | None, key: str) -> str | None:
    """Check a YYYYMMDD date (None passes)."""
    if value is None:
        return None
    text = str(value).strip()
    if not re.fullmatch(r"[0-9]{8}", text):
        raise ConfigError(f"{key}: {value!r} is not a date YYYYMMDD")
    try:
        _dt.datetime.strptime(text, "%Y%m%d")
    except ValueError:
        raise ConfigError(f"{key}: {value!r} is not a valid calendar date") from None
    return text


def parse_exclude(value: Any, key: str = "Global.in.Exclude") -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else re.split(r"[ ,;]+", str(value).strip())
    out = []
    for item in items:
        item = str(item).strip()
        if not item or item == "-9999":
            continue
        out.append(parse_date(item, key))
    return sorted(set(out))


def parse_bursts(value: str | None, key: str = "Global.parameter.burst_index") -> tuple[int, int] | None:
    if value is None or value == "":
        return None
    m = re.fullmatch(r"\s*([0-9]+)\s*-\s*([0-9]+)\s*", str(value))
    if not m:
        raise ConfigError(f"{key}: {value!r} is not a burst range FIRST-LAST such as 0-8")
    first, last = int(m.group(1)), int(m.group(2))
    if last < first:
        raise ConfigError(f"{key}: {value!r}: the last burst comes before the first")
    return first, last


@dataclass
class InputConfig:
    input_path: Path
    srtm_shapefile: Path | None = None
    srtm_path: Path | None = None
    dem_path: Path | None = None
    geoid: str | None = None  # path, "none", or None (built-in EGM96)
    master_image: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    exclude: list[str] = field(default_factory=list)
    mode: str = "SM"
    swath: str | None = None
    polarisation: str = "VV"


@dataclass
class MultiSlcConfig:
    """Validated configuration of one SAR_MultiSlc run (names follow the JSON keys, units in the names)."""

    inputs: InputConfig
    output_path: Path
    clean: bool = True
    burst_index: tuple[int, int] | None = None
    optram_mb: int = 4000
    roi: tuple[float, float, float, float] | None = None  # ulx, uly, lrx, lry (lon/lat degrees)
    doppler_file: str = "dop0.txt"
    ml_ran: int = 3
    ml_azi: int = 3
    ml_gain: float = 0.1
    grid_step_range: int = 150
    grid_step_azimut: int = 150
    grid_threshold: float = 0.3
    grid_gap: float = 1000.0
    grid_advantage: str = "dem"
    interferogram_gain: float = 0.1
    activate_interferogram: bool = True
    esd_iter: int = 2
    activate_ortho: bool = False
    spacingxy_deg: float = 0.0001
    ortho_epsg: int = 4326
    activate_filtering: bool = False
    filtered_ml_ran: int = 1
    filtered_ml_azi: int = 1
    filtering_alpha: float = 0.7
    source: str = ""  # the file it came from

    def to_dict(self) -> dict:
        """Plain JSON-serialisable view (for run.json / pair.json)."""
        d = asdict(self)

        def plain(v):
            if isinstance(v, Path):
                return str(v)
            if isinstance(v, tuple):
                return list(v)
            if isinstance(v, dict):
                return {k: plain(x) for k, x in v.items()}
            if isinstance(v, list):
                return [plain(x) for x in v]
            return v

        return plain(d)

    def check(self) -> MultiSlcConfig:
        """Checks across keys, also run again after command-line overrides."""
        if self.grid_step_range % self.ml_ran:
            raise ConfigError(f"DIn_SAR.parameter.GridStep_range: {self.grid_step_range} is not a multiple of "
                              f"Pre_Processing.parameter.ML_ran ({self.ml_ran})")
        if self.grid_step_azimut % self.ml_azi:
            raise ConfigError(f"DIn_SAR.parameter.GridStep_azimut: {self.grid_step_azimut} is not a multiple of "
                              f"Pre_Processing.parameter.ML_azi ({self.ml_azi})")
        s, e = self.inputs.start_date, self.inputs.end_date
        if s and e and s > e:
            raise ConfigError(f"Global.in.Start_Date: {s} is after Global.in.End_Date {e}")
        if self.inputs.srtm_path is None and self.inputs.dem_path is None:
            raise ConfigError("Global.in: give SRTM_Path (DEM tiles folder) or DEM_Path (one DEM raster)")
        if self.roi is not None:
            ulx, uly, lrx, lry = self.roi
            if not (-180 <= ulx < lrx <= 180 and -90 <= lry < uly <= 90):
                raise ConfigError(f"Global.parameter.roi: {list(self.roi)} is not ulx uly lrx lry in lon/lat "
                                  "with ulx < lrx and uly > lry")
        if self.ortho_epsg != 4326:
            from pyproj import CRS
            from pyproj.exceptions import CRSError

            try:
                CRS.from_epsg(self.ortho_epsg)
            except CRSError:
                raise ConfigError(f"Post_Processing.parameter.Ortho_EPSG: EPSG:{self.ortho_epsg} is unknown") \
                    from None
        return self


def _key_path(error) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "(top level)"


def _message(error) -> str:
    """One line for a jsonschema ValidationError, naming the key."""
    key = _key_path(error)
    v = error.validator
    if v == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        where = key if error.absolute_path else "top level"
        allowed = ", ".join(sorted(error.schema.get("properties", {})))
        name = ".".join([*map(str, error.absolute_path), extra[0]]) if extra else where
        return f"{name}: unknown key (allowed in {where}: {allowed or 'none'})"
    if v == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        prefix = f"{key}." if error.absolute_path else ""
        return f"{prefix}{missing}: required key is missing"
    desc = error.schema.get("description", "")
    if v in ("enum", "anyOf", "oneOf", "$ref") or "flag" in str(error.schema_path):
        hint = f" ({desc})" if desc else ""
        return f"{key}: {error.instance!r} is not an accepted value{hint}"
    if v == "type":
        return f"{key}: {error.instance!r} has the wrong type (expected {error.validator_value})"
    if v == "pattern":
        hint = f" ({desc})" if desc else ""
        return f"{key}: {error.instance!r} has the wrong form{hint}"
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        op = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[v]
        return f"{key}: {error.instance!r} is out of range (must be {op} {error.validator_value})"
    return f"{key}: {error.message}"


def validate_dict(raw: dict) -> None:
    """Validate a configuration dict against the schema; raise one ConfigError line for the first problem."""
    import jsonschema

    schema = load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(raw), key=lambda e: (len(list(e.absolute_path)), str(e.absolute_path)))
    if errors:
        # prefer the most specific error of the first failing key
        best = jsonschema.exceptions.best_match(errors, key=jsonschema.exceptions.relevance)
        raise ConfigError(_message(best))


def _fill_defaults(node: dict, schema: dict, root: dict) -> dict:
    """Recursively add schema defaults for missing keys of objects."""
    out = dict(node)
    for name, sub in schema.get("properties", {}).items():
        if "$ref" in sub and "default" not in sub:
            continue
        if name not in out and "default" in sub:
            out[name] = copy.deepcopy(sub["default"])
        if isinstance(out.get(name), dict) and sub.get("type") == "object":
            out[name] = _fill_defaults(out[name], sub, root)
    return out


def _path_or_none(value: Any, base: Path) -> Path | None:
    if value is None or str(value).strip() == "":
        return None
    p = Path(str(value)).expanduser()
    return p if p.is_absolute() else (base / p)


def from_dict(raw: dict, base_dir: str | Path = ".", source: str = "") -> MultiSlcConfig:
    """Validate ``raw`` and build a MultiSlcConfig; relative paths are taken from ``base_dir``."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source or 'configuration'}: the top level must be a JSON object")
    validate_dict(raw)
    full = _fill_defaults(raw, load_schema(), raw)
    base = Path(base_dir)
    g_in = full["Global"]["in"]
    g_par = full["Global"].get("parameter", {})
    pre = full.get("Pre_Processing", {})
    din = full.get("DIn_SAR", {}).get("parameter", {})
    post = full.get("Post_Processing", {}).get("parameter", {})
    meta_corr = full.get("Metadata_Correction", {}).get("parameter", {})
    if to_bool(meta_corr.get("activate", "no"), "Metadata_Correction.parameter.activate"):
        raise ConfigError("Metadata_Correction.parameter.activate: the metadata correction is not supported; the "
                          "residual offset of each pair is measured instead (DIn_SAR.parameter.Grid_Advantage)")
    geoid = g_in.get("Geoid")
    if geoid is not None and str(geoid).strip().lower() not in ("none", "builtin", "egm96"):
        geoid = str(_path_or_none(geoid, base))
    inputs = InputConfig(
        input_path=_path_or_none(g_in["Input_Path"], base),
        srtm_shapefile=_path_or_none(g_in.get("SRTM_Shapefile"), base),
        srtm_path=_path_or_none(g_in.get("SRTM_Path"), base),
        dem_path=_path_or_none(g_in.get("DEM_Path"), base),
        geoid=geoid,
        master_image=g_in.get("Master_Image") or None,
        start_date=parse_date(g_in.get("Start_Date"), "Global.in.Start_Date"),
        end_date=parse_date(g_in.get("End_Date"), "Global.in.End_Date"),
        exclude=parse_exclude(g_in.get("Exclude")),
        mode=g_in.get("Mode", "SM"),
        swath=g_in.get("Swath"),
        polarisation=g_in.get("Polarisation", "VV"),
    )
    roi = g_par.get("roi")
    cfg = MultiSlcConfig(
        inputs=inputs,
        output_path=_path_or_none(full["Global"]["out"]["Output_Path"], base),
        clean=to_bool(g_par.get("clean", "yes"), "Global.parameter.clean"),
        burst_index=parse_bursts(g_par.get("burst_index")),
        optram_mb=int(g_par.get("optram", 4000)),
        roi=tuple(float(x) for x in roi) if roi is not None else None,
        doppler_file=pre.get("out", {}).get("doppler_file", "dop0.txt"),
        ml_ran=int(pre.get("parameter", {}).get("ML_ran", 3)),
        ml_azi=int(pre.get("parameter", {}).get("ML_azi", 3)),
        ml_gain=float(pre.get("parameter", {}).get("ML_gain", 0.1)),
        grid_step_range=int(din.get("GridStep_range", 150)),
        grid_step_azimut=int(din.get("GridStep_azimut", 150)),
        grid_threshold=float(din.get("Grid_Threshold", 0.3)),
        grid_gap=float(din.get("Grid_Gap", 1000)),
        grid_advantage=din.get("Grid_Advantage", "dem"),
        interferogram_gain=float(din.get("Interferogram_gain", 0.1)),
        activate_interferogram=to_bool(din.get("Activate_Interferogram", "yes"),
                                       "DIn_SAR.parameter.Activate_Interferogram"),
        esd_iter=int(din.get("ESD_iter", 2)),
        activate_ortho=to_bool(post.get("Activate_Ortho", "no"), "Post_Processing.parameter.Activate_Ortho"),
        spacingxy_deg=float(post.get("Spacingxy", 0.0001)),
        ortho_epsg=int(post.get("Ortho_EPSG", 4326)),
        activate_filtering=to_bool(post.get("Activate_Filtering", "no"),
                                   "Post_Processing.parameter.Activate_Filtering"),
        filtered_ml_ran=int(post.get("Filtered_Interferogram_mlran", 1)),
        filtered_ml_azi=int(post.get("Filtered_Interferogram_mlazi", 1)),
        filtering_alpha=float(post.get("Filtering_alpha", 0.7)),
        source=source,
    )
    return cfg.check()


def load_config(path: str | Path) -> MultiSlcConfig:
    """Read, validate and type a SAR_MultiSlc JSON configuration file (relative paths: from its folder)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} not found") from None
    except OSError as exc:
        raise ConfigError(f"configuration file {path} cannot be read: {exc.strerror or exc}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"configuration file {path}: invalid JSON at line {exc.lineno} column {exc.colno}: "
                          f"{exc.msg}") from None
    return from_dict(raw, base_dir=path.resolve().parent, source=str(path))


def apply_overrides(cfg: MultiSlcConfig, **flags: Any) -> MultiSlcConfig:
    """Command-line flags override the configuration (None = not given); re-checks the result.

    Accepted names: start_date, end_date, exclude (list), master, bursts ("FIRST-LAST"), roi (4 floats),
    interferogram, ortho, light (bool or yes/no), ram_mb, spacingxy_deg, ml (range, azimuth).
    With ``ml`` the grid steps are rounded to the nearest multiple of the new factors.
    """
    cfg = copy.deepcopy(cfg)
    if flags.get("start_date") is not None:
        cfg.inputs.start_date = parse_date(flags["start_date"], "-d")
    if flags.get("end_date") is not None:
        cfg.inputs.end_date = parse_date(flags["end_date"], "-f")
    if flags.get("exclude"):
        cfg.inputs.exclude = sorted(set(cfg.inputs.exclude) | set(parse_exclude(list(flags["exclude"]), "-e")))
    if flags.get("master") is not None:
        cfg.inputs.master_image = str(flags["master"])
    if flags.get("bursts") is not None:
        cfg.burst_index = parse_bursts(flags["bursts"], "-b")
    if flags.get("roi") is not None:
        roi = [float(x) for x in flags["roi"]]
        if len(roi) != 4:
            raise ConfigError("-roi: give four numbers ulx uly lrx lry")
        cfg.roi = tuple(roi)
    if flags.get("interferogram") is not None:
        cfg.activate_interferogram = to_bool(flags["interferogram"], "-i")
    if flags.get("ortho") is not None:
        cfg.activate_ortho = to_bool(flags["ortho"], "-o")
    if flags.get("light") is not None:
        cfg.clean = to_bool(flags["light"], "-l")
    if flags.get("ram_mb") is not None:
        ram = int(flags["ram_mb"])
        if ram < 64:
            raise ConfigError(f"-ram: {ram} MB is too small (at least 64)")
        cfg.optram_mb = ram
    if flags.get("spacingxy_deg") is not None:
        sp = float(flags["spacingxy_deg"])
        if not 0 < sp <= 1:
            raise ConfigError(f"-spacingxy: {sp} is not a spacing in degrees in (0, 1]")
        cfg.spacingxy_deg = sp
    if flags.get("ml") is not None:
        rg, az = (int(x) for x in flags["ml"])
        if rg < 1 or az < 1:
            raise ConfigError(f"-ml: multilook factors must be >= 1 (got {rg} {az})")
        cfg.ml_ran, cfg.ml_azi = rg, az
        # keep the grid steps valid: round them to the nearest multiple of the new factors
        cfg.grid_step_range = max(rg, int(round(cfg.grid_step_range / rg)) * rg)
        cfg.grid_step_azimut = max(az, int(round(cfg.grid_step_azimut / az)) * az)
    return cfg.check()
