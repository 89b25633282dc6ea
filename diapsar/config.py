"""Configuration of the SAR_MultiSlc chain: JSON file -> schema validation -> typed, frozen sections.

The JSON Schema ``config/multislc.schema.json`` is the single description of every key (type, default,
meaning) and the only place a default is written. This module validates a configuration against it, fills the
schema defaults once, and builds typed sections whose fields name the key they come from (``_key``): the
descriptions shown to users (``field_description``, the ``SAR_MultiSlc.py --help`` text) are the schema's.
Checks a schema cannot express (grid steps that are multiples of the multilook factors, date order, swath of the
mode) are in ``MultiSlcConfig.check``. Every problem is reported as one ``ConfigError`` line naming the key.

Sections (reusable by other chains): ``InputsConfig`` (Global.in), ``RunConfig`` (Global.out, Global.parameter),
``MultilookConfig`` (Pre_Processing), ``GridConfig``, ``InterferogramConfig``, ``EsdConfig`` (DIn_SAR.parameter),
``OrthoConfig``, ``FilteringConfig`` (Post_Processing.parameter).
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace
from functools import cache
from pathlib import Path
from typing import Any, TypeVar, cast

from .errors import ConfigError

# shipped inside the package (installed with it); config/multislc.schema.json in the repository links to it
SCHEMA_PATH = Path(__file__).resolve().parent / "data" / "multislc.schema.json"

JsonDict = dict[str, Any]

_TRUE = {"yes", "true"}
_FALSE = {"no", "false"}

# swaths of each mode; "all" in Global.in.Swath stands for every one of them
MODE_SWATHS: dict[str, tuple[str, ...]] = {
    "SM": ("S1", "S2", "S3", "S4", "S5", "S6"),
    "IW": ("IW1", "IW2", "IW3"),
    "EW": ("EW1", "EW2", "EW3", "EW4", "EW5"),
}

# schema keys with a default that no typed field holds, and why (DiapOTB compatibility)
UNUSED_KEYS: dict[str, str] = {
    "Global.parameter.tmpdir_into_outputdir": "temporary files are always written beside their final name",
    "Metadata_Correction.out.fine_metadata_file": "the metadata correction is not supported",
    "Metadata_Correction.parameter.activate": "checked to be false: the metadata correction is not supported",
    "Metadata_Correction.parameter.GridStep_range": "the metadata correction is not supported",
    "Metadata_Correction.parameter.GridStep_azimut": "the metadata correction is not supported",
}


# ---- schema access ---------------------------------------------------------------------------------------------

@cache
def _schema() -> JsonDict:
    try:
        return cast(JsonDict, json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    except OSError as exc:  # an installation without the data/ folder
        raise ConfigError(f"configuration schema {SCHEMA_PATH} not found: {exc.strerror or exc}") from None


def load_schema() -> JsonDict:
    """The configuration's JSON Schema (a copy: callers may change it)."""
    return copy.deepcopy(_schema())


def schema_node(key: str) -> JsonDict:
    """The schema of one key given by its dotted path (``Pre_Processing.parameter.ML_ran``)."""
    node = _schema()
    try:
        for part in key.split("."):
            node = node["properties"][part]
    except KeyError:
        raise KeyError(f"{key} is not a key of {SCHEMA_PATH.name}") from None
    return node


def schema_default(key: str) -> Any:
    """The default of a key, as written in the schema."""
    return copy.deepcopy(schema_node(key)["default"])


def field_description(cls: type, name: str) -> str:
    """Description of a field of a config section: the schema description of the key it holds."""
    for f in fields(cast(Any, cls)):
        if f.name == name:
            return str(schema_node(f.metadata["key"])["description"])
    raise KeyError(f"{cls.__name__} has no field {name}")


def schema_leaf_keys(node: JsonDict | None = None, prefix: str = "") -> Iterator[str]:
    """Dotted paths of every key of the schema that is not an object of keys."""
    node = _schema() if node is None else node
    for name, sub in node.get("properties", {}).items():
        path = f"{prefix}{name}"
        if sub.get("type") == "object":
            yield from schema_leaf_keys(sub, f"{path}.")
        else:
            yield path


# ---- value parsers (also used by other modules) ----------------------------------------------------------------

def to_bool(value: Any, key: str = "value") -> bool:
    """DiapOTB booleans: JSON booleans or the strings yes/no/true/false (any case)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE:
        return True
    if isinstance(value, str) and value.strip().lower() in _FALSE:
        return False
    raise ConfigError(f"{key}: {value!r} is not a boolean (use true/false or \"yes\"/\"no\")")


def parse_date(value: Any, key: str) -> str | None:
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
    """Excluded dates: a list or a string of dates separated by spaces/commas; "-9999" (DiapOTB) means none."""
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else re.split(r"[ ,;]+", str(value).strip())
    out: set[str] = set()
    for item in items:
        text = str(item).strip()
        if not text or text == "-9999":
            continue
        out.add(cast(str, parse_date(text, key)))
    return sorted(out)


def parse_bursts(value: Any, key: str = "Global.parameter.burst_index") -> tuple[int, int] | None:
    if value is None or value == "":
        return None
    m = re.fullmatch(r"\s*([0-9]+)\s*-\s*([0-9]+)\s*", str(value))
    if not m:
        raise ConfigError(f"{key}: {value!r} is not a burst range FIRST-LAST such as 0-8")
    first, last = int(m.group(1)), int(m.group(2))
    if last < first:
        raise ConfigError(f"{key}: {value!r}: the last burst comes before the first")
    return first, last


def parse_swaths(value: Any, mode: str, key: str = "Global.in.Swath") -> tuple[str, ...] | None:
    """Swath names asked (None: the master's); "all" stands for every swath of the mode."""
    if value is None:
        return None
    names = list(MODE_SWATHS.get(mode, ())) if value == "all" else [value] if isinstance(value, str) else value
    if not names:
        raise ConfigError(f"{key}: 'all' needs a mode with swaths (IW or EW)")
    out = tuple(sorted({str(n).upper() for n in names}))
    wrong = [n for n in out if n not in MODE_SWATHS.get(mode, ())]
    if wrong:
        raise ConfigError(f"{key}: {wrong[0]} is not a swath of Global.in.Mode {mode} "
                          f"({', '.join(MODE_SWATHS.get(mode, ()))})")
    if mode == "SM" and len(out) > 1:
        raise ConfigError(f"{key}: {list(out)}: a StripMap stack has one beam; give one of "
                          f"{', '.join(MODE_SWATHS['SM'])}")
    return out


# ---- converters: JSON value of a key -> typed field value ------------------------------------------------------

@dataclass(frozen=True)
class _Ctx:
    base: Path  # relative paths are taken from here
    mode: str   # Global.in.Mode (swath names depend on it)


Converter = Callable[[Any, str, _Ctx], Any]


def _key(key: str, convert: Converter) -> Any:
    """A field holding schema key ``key`` (converted by ``convert``); no default: the schema gives it."""
    return field(metadata={"key": key, "convert": convert})


def _path_or_none(value: Any, base: Path) -> Path | None:
    if value is None or str(value).strip() == "":
        return None
    p = Path(str(value)).expanduser()
    return p if p.is_absolute() else (base / p)


def _int(value: Any, key: str, ctx: _Ctx) -> int:
    return int(value)


def _float(value: Any, key: str, ctx: _Ctx) -> float:
    return float(value)


def _str(value: Any, key: str, ctx: _Ctx) -> str:
    return str(value)


def _int_or_none(value: Any, key: str, ctx: _Ctx) -> int | None:
    return None if value is None else int(value)


def _float_or_none(value: Any, key: str, ctx: _Ctx) -> float | None:
    return None if value is None else float(value)


def _bool(value: Any, key: str, ctx: _Ctx) -> bool:
    return to_bool(value, key)


def _str_or_none(value: Any, key: str, ctx: _Ctx) -> str | None:
    return str(value) if value else None


def _path(value: Any, key: str, ctx: _Ctx) -> Path:
    path = _path_or_none(value, ctx.base)
    if path is None:
        raise ConfigError(f"{key}: give a path")
    return path


def _opt_path(value: Any, key: str, ctx: _Ctx) -> Path | None:
    return _path_or_none(value, ctx.base)


def _geoid(value: Any, key: str, ctx: _Ctx) -> str | None:
    """A geoid raster (path), one of the words none/builtin/egm96 kept as written, or None (built-in EGM96)."""
    if value is None:
        return None
    text = str(value)
    return text if text.strip().lower() in ("none", "builtin", "egm96") else str(_path_or_none(text, ctx.base))


def _date(value: Any, key: str, ctx: _Ctx) -> str | None:
    return parse_date(value, key)


def _exclude(value: Any, key: str, ctx: _Ctx) -> tuple[str, ...]:
    return tuple(parse_exclude(value, key))


def _bursts(value: Any, key: str, ctx: _Ctx) -> tuple[int, int] | None:
    return parse_bursts(value, key)


def _roi(value: Any, key: str, ctx: _Ctx) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    ulx, uly, lrx, lry = (float(x) for x in value)
    return ulx, uly, lrx, lry


def _swaths(value: Any, key: str, ctx: _Ctx) -> tuple[str, ...] | None:
    return parse_swaths(value, ctx.mode, key)


# ---- typed sections --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class InputsConfig:
    """Global.in: the datalake, the DEM, the geoid, the master, the date window and the images kept."""

    input_path: Path = _key("Global.in.Input_Path", _path)
    srtm_shapefile: Path | None = _key("Global.in.SRTM_Shapefile", _opt_path)
    srtm_path: Path | None = _key("Global.in.SRTM_Path", _opt_path)
    dem_path: Path | None = _key("Global.in.DEM_Path", _opt_path)
    geoid: str | None = _key("Global.in.Geoid", _geoid)  # path, "none", or None (built-in EGM96)
    fill_missing_dem: bool = _key("Global.in.Fill_Missing_DEM", _bool)
    master_image: str | None = _key("Global.in.Master_Image", _str_or_none)
    start_date: str | None = _key("Global.in.Start_Date", _date)
    end_date: str | None = _key("Global.in.End_Date", _date)
    exclude: tuple[str, ...] = _key("Global.in.Exclude", _exclude)
    mode: str = _key("Global.in.Mode", _str)
    swaths: tuple[str, ...] | None = _key("Global.in.Swath", _swaths)
    polarisation: str = _key("Global.in.Polarisation", _str)

    @property
    def swath(self) -> str | None:
        """The one swath asked (what a single-swath chain reads); None when none, or several, are asked."""
        return self.swaths[0] if self.swaths is not None and len(self.swaths) == 1 else None


@dataclass(frozen=True)
class RunConfig:
    """Global.out and Global.parameter: output folder, light mode, memory budget, region of interest, bursts."""

    output_path: Path = _key("Global.out.Output_Path", _path)
    clean: bool = _key("Global.parameter.clean", _bool)
    burst_index: tuple[int, int] | None = _key("Global.parameter.burst_index", _bursts)
    optram_mb: int = _key("Global.parameter.optram", _int)
    roi: tuple[float, float, float, float] | None = _key("Global.parameter.roi", _roi)  # ulx uly lrx lry


@dataclass(frozen=True)
class MultilookConfig:
    """Pre_Processing: Doppler0 estimate and multilook of every image."""

    doppler_file: str = _key("Pre_Processing.out.doppler_file", _str)
    ml_ran: int = _key("Pre_Processing.parameter.ML_ran", _int)
    ml_azi: int = _key("Pre_Processing.parameter.ML_azi", _int)
    gain: float = _key("Pre_Processing.parameter.ML_gain", _float)


@dataclass(frozen=True)
class GridConfig:
    """DIn_SAR.parameter: the deformation grid of each pair."""

    step_range: int = _key("DIn_SAR.parameter.GridStep_range", _int)
    step_azimut: int = _key("DIn_SAR.parameter.GridStep_azimut", _int)
    threshold: float = _key("DIn_SAR.parameter.Grid_Threshold", _float)
    gap: float = _key("DIn_SAR.parameter.Grid_Gap", _float)
    advantage: str = _key("DIn_SAR.parameter.Grid_Advantage", _str)


@dataclass(frozen=True)
class InterferogramConfig:
    """DIn_SAR.parameter: the interferogram of each pair."""

    activate: bool = _key("DIn_SAR.parameter.Activate_Interferogram", _bool)
    gain: float = _key("DIn_SAR.parameter.Interferogram_gain", _float)


@dataclass(frozen=True)
class EsdConfig:
    """DIn_SAR.parameter: Enhanced Spectral Diversity of IW pairs."""

    iterations: int = _key("DIn_SAR.parameter.ESD_iter", _int)
    threshold: float = _key("DIn_SAR.parameter.ESD_threshold", _float)


@dataclass(frozen=True)
class OrthoConfig:
    """Post_Processing.parameter: orthorectification of the interferograms."""

    activate: bool = _key("Post_Processing.parameter.Activate_Ortho", _bool)
    spacingxy_deg: float = _key("Post_Processing.parameter.Spacingxy", _float)
    epsg: int = _key("Post_Processing.parameter.Ortho_EPSG", _int)


@dataclass(frozen=True)
class FilteringConfig:
    """Post_Processing.parameter: Goldstein phase filtering of the interferograms."""

    activate: bool = _key("Post_Processing.parameter.Activate_Filtering", _bool)
    alpha: float = _key("Post_Processing.parameter.Filtering_alpha", _float)
    ml_ran: int = _key("Post_Processing.parameter.Filtered_Interferogram_mlran", _int)
    ml_azi: int = _key("Post_Processing.parameter.Filtered_Interferogram_mlazi", _int)


def _pair_or_none(value: Any, key: str, ctx: _Ctx) -> tuple[float, float] | None:
    return None if value is None else (float(value[0]), float(value[1]))


def _int_pair_or_none(value: Any, key: str, ctx: _Ctx) -> tuple[int, int] | None:
    return None if value is None else (int(value[0]), int(value[1]))


@dataclass(frozen=True)
class UnwrappingConfig:
    """Post_Processing.parameter: phase unwrapping (SNAPHU) and line-of-sight displacement."""

    activate: bool = _key("Post_Processing.parameter.Activate_Unwrapping", _bool)
    method: str = _key("Post_Processing.parameter.Unwrapping_method", _str)
    coherence_threshold: float = _key("Post_Processing.parameter.Unwrapping_coherence_threshold", _float)
    reference_lonlat: tuple[float, float] | None = _key("Post_Processing.parameter.Unwrapping_reference",
                                                        _pair_or_none)
    tiles: tuple[int, int] | None = _key("Post_Processing.parameter.Unwrapping_tiles", _int_pair_or_none)


def _str_list(value: Any, key: str, ctx: _Ctx) -> tuple[str, ...]:
    return tuple(str(v) for v in value)


@dataclass(frozen=True)
class ComputeConfig:
    """Compute: where the units run (in-process, local dask cluster, dask scheduler, PBS/Slurm jobs) and the
    batch jobs' resources. Not part of the resume hash: products are identical whatever runs them."""

    executor: str = _key("Compute.executor", _str)
    workers: int = _key("Compute.workers", _int)
    threads_per_worker: int = _key("Compute.threads_per_worker", _int)
    ram_per_worker: bool = _key("Compute.ram_per_worker", _bool)
    auto_min_pairs: int = _key("Compute.auto_min_pairs", _int)
    swath_processes: int = _key("Compute.swath_processes", _int)
    scheduler: str | None = _key("Compute.scheduler", _str_or_none)
    scheduler_timeout_s: float = _key("Compute.scheduler_timeout_s", _float)
    queue: str | None = _key("Compute.jobqueue.queue", _str_or_none)
    account: str | None = _key("Compute.jobqueue.account", _str_or_none)
    cores: int | None = _key("Compute.jobqueue.cores", _int_or_none)
    memory: str | None = _key("Compute.jobqueue.memory", _str_or_none)
    walltime: str = _key("Compute.jobqueue.walltime", _str)
    master_walltime: str | None = _key("Compute.jobqueue.master_walltime", _str_or_none)
    start_timeout_s: float | None = _key("Compute.jobqueue.start_timeout_s", _float_or_none)
    job_directives: tuple[str, ...] = _key("Compute.jobqueue.job_directives", _str_list)
    prologue: tuple[str, ...] = _key("Compute.jobqueue.prologue", _str_list)
    minimum_jobs: int = _key("Compute.jobqueue.minimum_jobs", _int)
    maximum_jobs: int = _key("Compute.jobqueue.maximum_jobs", _int)
    interface: str | None = _key("Compute.jobqueue.interface", _str_or_none)
    log_directory: Path | None = _key("Compute.jobqueue.log_directory", _opt_path)
    array: bool = _key("Compute.jobqueue.array", _bool)

    def job_resources(self, why: str) -> tuple[int, str]:
        """(cores, memory) of each batch job; ConfigError naming what is missing when the section lacks them
        (``why``: what needs them, e.g. "executor slurm", "--qsub")."""
        missing = [k for k, v in (("cores", self.cores), ("memory", self.memory)) if v is None]
        if missing:
            raise ConfigError(f"Compute.jobqueue: {why} needs {' and '.join(missing)} (the resources of each "
                              'job, e.g. "jobqueue": {"cores": 12, "memory": "60GB", "walltime": "10:00:00"})')
        assert self.cores is not None and self.memory is not None
        return self.cores, self.memory


SECTIONS: dict[str, type] = {
    "inputs": InputsConfig, "run": RunConfig, "multilook": MultilookConfig, "grid": GridConfig,
    "interferogram": InterferogramConfig, "esd": EsdConfig, "ortho": OrthoConfig, "filtering": FilteringConfig,
    "unwrapping": UnwrappingConfig,
    "compute": ComputeConfig,
}


def key_fields() -> dict[str, tuple[str, str]]:
    """Schema key -> (section attribute of MultiSlcConfig, field name) for every typed field."""
    return {f.metadata["key"]: (attr, f.name) for attr, cls in SECTIONS.items() for f in fields(cast(Any, cls))}


_S = TypeVar("_S")


def _lookup(full: JsonDict, key: str) -> Any:
    node: Any = full
    for part in key.split("."):
        node = node[part]
    return node


def _build(cls: type[_S], full: JsonDict, ctx: _Ctx) -> _S:
    """A section from the defaults-filled configuration: each field converts the value of its key."""
    values = {f.name: f.metadata["convert"](_lookup(full, f.metadata["key"]), f.metadata["key"], ctx)
              for f in fields(cast(Any, cls))}
    return cls(**values)


@dataclass(frozen=True)
class MultiSlcConfig:
    """Validated configuration of one SAR_MultiSlc run, composed of typed sections.

    The flat names of earlier versions (``cfg.ml_ran``, ``cfg.grid_step_range``, ...) are read-only properties
    delegating to the sections. ``adjustments`` lists, as sentences, the values the configuration changed (and
    why), for the chain to log.
    """

    inputs: InputsConfig
    run: RunConfig
    multilook: MultilookConfig
    grid: GridConfig
    interferogram: InterferogramConfig
    esd: EsdConfig
    ortho: OrthoConfig
    filtering: FilteringConfig
    unwrapping: UnwrappingConfig
    compute: ComputeConfig
    source: str = ""  # the file it came from
    adjustments: tuple[str, ...] = ()
    # a swath's run inside a multi-swath run (``chains.swaths.swath_config``): its pairs get no quicklooks of
    # their own (the merged pair has them); not part of ``to_dict``
    swath_part: bool = False

    # -- flat names (read-only) --
    @property
    def output_path(self) -> Path:
        return self.run.output_path

    @property
    def clean(self) -> bool:
        return self.run.clean

    @property
    def burst_index(self) -> tuple[int, int] | None:
        return self.run.burst_index

    @property
    def optram_mb(self) -> int:
        return self.run.optram_mb

    @property
    def roi(self) -> tuple[float, float, float, float] | None:
        return self.run.roi

    @property
    def doppler_file(self) -> str:
        return self.multilook.doppler_file

    @property
    def ml_ran(self) -> int:
        return self.multilook.ml_ran

    @property
    def ml_azi(self) -> int:
        return self.multilook.ml_azi

    @property
    def ml_gain(self) -> float:
        return self.multilook.gain

    @property
    def grid_step_range(self) -> int:
        return self.grid.step_range

    @property
    def grid_step_azimut(self) -> int:
        return self.grid.step_azimut

    @property
    def grid_threshold(self) -> float:
        return self.grid.threshold

    @property
    def grid_gap(self) -> float:
        return self.grid.gap

    @property
    def grid_advantage(self) -> str:
        return self.grid.advantage

    @property
    def interferogram_gain(self) -> float:
        return self.interferogram.gain

    @property
    def activate_interferogram(self) -> bool:
        return self.interferogram.activate

    @property
    def esd_iter(self) -> int:
        return self.esd.iterations

    @property
    def activate_ortho(self) -> bool:
        return self.ortho.activate

    @property
    def spacingxy_deg(self) -> float:
        return self.ortho.spacingxy_deg

    @property
    def ortho_epsg(self) -> int:
        return self.ortho.epsg

    @property
    def activate_filtering(self) -> bool:
        return self.filtering.activate

    @property
    def filtered_ml_ran(self) -> int:
        return self.filtering.ml_ran

    @property
    def filtered_ml_azi(self) -> int:
        return self.filtering.ml_azi

    @property
    def filtering_alpha(self) -> float:
        return self.filtering.alpha

    def to_dict(self) -> JsonDict:
        """Plain JSON-serialisable view (run.json, pair.json, resume hash): the flat names of earlier versions,
        unchanged, so that runs made before keep resuming. Keys added since (ESD_threshold, Fill_Missing_DEM)
        are not part of it: see ``sections_dict``."""
        i = self.inputs
        swath: str | list[str] | None = (None if i.swaths is None else i.swaths[0] if len(i.swaths) == 1
                                         else list(i.swaths))
        inputs = {
            "input_path": str(i.input_path), "srtm_shapefile": _plain(i.srtm_shapefile),
            "srtm_path": _plain(i.srtm_path), "dem_path": _plain(i.dem_path), "geoid": i.geoid,
            "master_image": i.master_image, "start_date": i.start_date, "end_date": i.end_date,
            "exclude": list(i.exclude), "mode": i.mode, "swath": swath, "polarisation": i.polarisation,
        }
        flat = ("output_path", "clean", "burst_index", "optram_mb", "roi", "doppler_file", "ml_ran", "ml_azi",
                "ml_gain", "grid_step_range", "grid_step_azimut", "grid_threshold", "grid_gap", "grid_advantage",
                "interferogram_gain", "activate_interferogram", "esd_iter", "activate_ortho", "spacingxy_deg",
                "ortho_epsg", "activate_filtering", "filtered_ml_ran", "filtered_ml_azi", "filtering_alpha",
                "source")
        return {"inputs": inputs} | {name: _plain(getattr(self, name)) for name in flat}

    def sections_dict(self) -> JsonDict:
        """Every typed field, by section (JSON-serialisable)."""
        return {attr: {f.name: _plain(getattr(getattr(self, attr), f.name)) for f in fields(cast(Any, cls))}
                for attr, cls in SECTIONS.items()}

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
        c = self.compute
        if c.executor == "scheduler" and not c.scheduler:
            raise ConfigError("Compute.scheduler: executor 'scheduler' needs the address of a dask scheduler "
                              "(or --scheduler ADDRESS)")
        if c.executor in ("slurm", "pbs"):
            c.job_resources(f"executor {c.executor}")
        if c.minimum_jobs > c.maximum_jobs:
            raise ConfigError(f"Compute.jobqueue.minimum_jobs: {c.minimum_jobs} is more than "
                              f"Compute.jobqueue.maximum_jobs {c.maximum_jobs}")
        if self.inputs.srtm_path is None and self.inputs.dem_path is None:
            raise ConfigError("Global.in: give SRTM_Path (DEM tiles folder) or DEM_Path (one DEM raster)")
        if self.roi is not None:
            ulx, uly, lrx, lry = self.roi
            if not (-180 <= ulx < lrx <= 180 and -90 <= lry < uly <= 90):
                raise ConfigError(f"Global.parameter.roi: {list(self.roi)} is not ulx uly lrx lry in lon/lat "
                                  "with ulx < lrx and uly > lry")
        from pyproj import CRS
        from pyproj.exceptions import CRSError

        try:
            CRS.from_epsg(self.ortho_epsg)
        except CRSError:
            raise ConfigError(f"Post_Processing.parameter.Ortho_EPSG: EPSG:{self.ortho_epsg} is unknown") from None
        return self


def _plain(v: Any) -> Any:
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, tuple | list):
        return [_plain(x) for x in v]
    return v


# ---- validation ------------------------------------------------------------------------------------------------

def schema_error_message(error: Any, key: str = "") -> str:
    """One line for a jsonschema ValidationError, naming the key (``key``: where the validated value sits)."""
    path = [str(p) for p in error.absolute_path]
    where = ".".join([key, *path] if key else path) or "(top level)"
    v = error.validator
    if v == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        scope = where if error.absolute_path or key else "top level"
        allowed = ", ".join(sorted(error.schema.get("properties", {})))
        name = ".".join([*([key] if key else []), *path, extra[0]]) if extra else scope
        return f"{name}: unknown key (allowed in {scope}: {allowed or 'none'})"
    if v == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        prefix = f"{where}." if error.absolute_path or key else ""
        return f"{prefix}{missing}: required key is missing"
    desc = error.schema.get("description", "")
    if v in ("enum", "const", "anyOf", "oneOf", "$ref") or "flag" in str(error.schema_path):
        hint = f" ({desc})" if desc else ""
        return f"{where}: {error.instance!r} is not an accepted value{hint}"
    if v == "type":
        return f"{where}: {error.instance!r} has the wrong type (expected {error.validator_value})"
    if v == "pattern":
        hint = f" ({desc})" if desc else ""
        return f"{where}: {error.instance!r} has the wrong form{hint}"
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        op = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[v]
        return f"{where}: {error.instance!r} is out of range (must be {op} {error.validator_value})"
    return f"{where}: {error.message}"


def first_schema_error(schema: JsonDict, instance: Any) -> Any:
    import jsonschema

    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(instance))
    if not errors:
        return None
    # prefer the most specific error of the first failing key
    return jsonschema.exceptions.best_match(errors, key=jsonschema.exceptions.relevance)


def validate_dict(raw: JsonDict) -> None:
    """Validate a configuration dict against the schema; raise one ConfigError line for the first problem."""
    error = first_schema_error(_schema(), raw)
    if error is not None:
        raise ConfigError(schema_error_message(error))


def validate_value(key: str, value: Any) -> None:
    """Validate the value of one key against its schema (ConfigError naming the key)."""
    error = first_schema_error({"$defs": _schema()["$defs"], **schema_node(key)}, value)
    if error is not None:
        raise ConfigError(schema_error_message(error, key))


def _fill_defaults(node: JsonDict, schema: JsonDict) -> JsonDict:
    """Recursively add schema defaults for missing keys of objects (the one place defaults are read)."""
    out = dict(node)
    for name, sub in schema.get("properties", {}).items():
        if name not in out and "default" in sub:
            out[name] = copy.deepcopy(sub["default"])
        if isinstance(out.get(name), dict) and sub.get("type") == "object":
            out[name] = _fill_defaults(out[name], sub)
    return out


def filled(raw: JsonDict) -> JsonDict:
    """A validated configuration with every missing key set to its schema default."""
    return _fill_defaults(raw, _schema())


# ---- entry points ----------------------------------------------------------------------------------------------

def from_dict(raw: JsonDict, base_dir: str | Path = ".", source: str = "") -> MultiSlcConfig:
    """Validate ``raw`` and build a MultiSlcConfig; relative paths are taken from ``base_dir``."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source or 'configuration'}: the top level must be a JSON object")
    validate_dict(raw)
    full = filled(raw)
    if to_bool(full["Metadata_Correction"]["parameter"]["activate"], "Metadata_Correction.parameter.activate"):
        raise ConfigError("Metadata_Correction.parameter.activate: the metadata correction is not supported; the "
                          "residual offset of each pair is measured instead (DIn_SAR.parameter.Grid_Advantage)")
    ctx = _Ctx(base=Path(base_dir), mode=str(full["Global"]["in"]["Mode"]))
    sections: dict[str, Any] = {attr: _build(cls, full, ctx) for attr, cls in SECTIONS.items()}
    return MultiSlcConfig(**sections, source=source).check()


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


# ---- command-line overrides ------------------------------------------------------------------------------------

def _flag(name: str, keys: tuple[str, ...], note: str = "") -> Any:
    """An override field: its SAR_MultiSlc.py flag, the schema keys it replaces, an optional help note."""
    return field(default=None, metadata={"flag": name, "keys": keys, "note": note})


@dataclass(frozen=True)
class Overrides:
    """SAR_MultiSlc.py flags replacing configuration keys; None: the flag was not given."""

    start_date: str | None = _flag("-d", ("Global.in.Start_Date",))
    end_date: str | None = _flag("-f", ("Global.in.End_Date",))
    exclude: tuple[str, ...] | None = _flag("-e", ("Global.in.Exclude",),
                                            "Added to the dates excluded by the configuration.")
    master: str | None = _flag("-m", ("Global.in.Master_Image",))
    bursts: str | None = _flag("-b", ("Global.parameter.burst_index",))
    roi: tuple[float, float, float, float] | None = _flag("-roi", ("Global.parameter.roi",))
    interferogram: bool | None = _flag("-i", ("DIn_SAR.parameter.Activate_Interferogram",))
    ortho: bool | None = _flag("-o", ("Post_Processing.parameter.Activate_Ortho",))
    light: bool | None = _flag("-l", ("Global.parameter.clean",))
    ram_mb: int | None = _flag("-ram", ("Global.parameter.optram",))
    spacingxy_deg: float | None = _flag("-spacingxy", ("Post_Processing.parameter.Spacingxy",))
    ml: tuple[int, int] | None = _flag("-ml", ("Pre_Processing.parameter.ML_ran", "Pre_Processing.parameter.ML_azi"),
                                       "The grid steps are rounded to the nearest multiple of the new factors.")
    fill_sea: bool | None = _flag("--fill-sea", ("Global.in.Fill_Missing_DEM",))
    unwrap: bool | None = _flag("-u", ("Post_Processing.parameter.Activate_Unwrapping",))
    workers: int | None = _flag("--workers", ("Compute.workers",),
                                "Given alone, runs the pairs on a local dask cluster (Compute.executor local).")
    threads_per_worker: int | None = _flag("--threads-per-worker", ("Compute.threads_per_worker",))
    scheduler: str | None = _flag("--scheduler", ("Compute.scheduler",),
                                  "Runs the units on that dask scheduler (Compute.executor scheduler).")


def _show_default(key: str) -> str:
    value = schema_default(key)
    if value is None or value == "-9999":
        return "none"
    if "$ref" in schema_node(key) and schema_node(key)["$ref"].endswith("/flag"):
        return "yes" if to_bool(value, key) else "no"
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def override_help(name: str) -> str:
    """Help text of the flag of Overrides field ``name``: the schema descriptions, the keys and their defaults."""
    meta = next(f.metadata for f in fields(Overrides) if f.name == name)
    keys: tuple[str, ...] = meta["keys"]
    text = " ".join(str(schema_node(k)["description"]) for k in keys)
    if meta["note"]:
        text += " " + meta["note"]
    defaults = " ".join(_show_default(k) for k in keys)
    return f"{text} [{', '.join(keys)}; default: {defaults}]"


def _merge(flag: str, key: str, value: Any, cfg: MultiSlcConfig) -> Any:
    """JSON value of ``key`` given by ``flag`` (the -e dates are added to the configuration's)."""
    if key == "Global.in.Exclude":
        return sorted(set(cfg.inputs.exclude) | set(parse_exclude(list(value), flag)))
    return _plain(value)


def apply_overrides(cfg: MultiSlcConfig, overrides: Overrides) -> MultiSlcConfig:
    """Command-line flags override the configuration; each value is validated against its key's schema and
    converted like the key's; the result is re-checked. With ``ml`` the grid steps are rounded to the nearest
    multiple of the new factors (recorded in ``adjustments``). ``cfg`` is left unchanged."""
    where = key_fields()
    ctx = _Ctx(base=Path("."), mode=cfg.inputs.mode)
    for f in fields(Overrides):
        value = getattr(overrides, f.name)
        if value is None:
            continue
        flag, keys = f.metadata["flag"], f.metadata["keys"]
        values = [value] if len(keys) == 1 else list(value)
        if len(values) != len(keys):
            raise ConfigError(f"{flag}: give {len(keys)} values")
        for key, one in zip(keys, values):
            json_value = _merge(flag, key, one, cfg)
            try:
                validate_value(key, json_value)
                attr, name = where[key]
                typed = next(g for g in fields(SECTIONS[attr]) if g.name == name).metadata["convert"](
                    json_value, key, ctx)
            except ConfigError as exc:  # name the flag beside the key
                text = str(exc)
                rest = text[len(key):] if text.startswith(key) else f": {text}"
                raise ConfigError(f"{flag} ({key}){rest}") from None
            cfg = replace(cfg, **{attr: replace(getattr(cfg, attr), **{name: typed})})
    if overrides.ml is not None:
        cfg = _round_grid_steps(cfg, "-ml")
    if overrides.scheduler is not None:
        cfg = replace(cfg, compute=replace(cfg.compute, executor="scheduler"))
    elif overrides.workers is not None and cfg.compute.executor not in ("local", "slurm", "pbs"):
        cfg = replace(cfg, compute=replace(cfg.compute, executor="local"))
    return cfg.check()


def _round_grid_steps(cfg: MultiSlcConfig, why: str) -> MultiSlcConfig:
    """Grid steps rounded to the nearest multiple of the multilook factors, each change recorded."""
    notes = list(cfg.adjustments)
    steps: list[int] = []
    for key, step, ml, ml_key in (("GridStep_range", cfg.grid_step_range, cfg.ml_ran, "ML_ran"),
                                  ("GridStep_azimut", cfg.grid_step_azimut, cfg.ml_azi, "ML_azi")):
        new = max(ml, int(round(step / ml)) * ml)
        steps.append(new)
        if new != step:
            notes.append(f"DIn_SAR.parameter.{key} {step} -> {new}: rounded to the nearest multiple of "
                         f"Pre_Processing.parameter.{ml_key} {ml} (set by {why}); the deformation grid nodes "
                         "must fall on multilooked pixels")
    grid = replace(cfg.grid, step_range=steps[0], step_azimut=steps[1])
    return replace(cfg, grid=grid, adjustments=tuple(notes))
