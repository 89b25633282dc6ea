"""One source of defaults: every schema default reaches the typed sections, no default is written in code,
the command line's help shows the schema's descriptions and defaults; IW keys; adjustments; --fill-sea."""

from __future__ import annotations

import ast
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from diapsar import config as C
from diapsar.chains import cli as chain_cli
from diapsar.config import (
    SECTIONS,
    UNUSED_KEYS,
    MultiSlcConfig,
    Overrides,
    apply_overrides,
    from_dict,
    key_fields,
    schema_default,
    schema_leaf_keys,
    schema_node,
)
from diapsar.errors import ConfigError, DemError

REPO = Path(__file__).resolve().parents[1]
CODE = [REPO / "diapsar" / "config.py", REPO / "diapsar" / "chains" / "cli.py"]

# names every chain reads today (the flat view of earlier versions); to_dict() keeps exactly these keys
FLAT = ("output_path", "clean", "burst_index", "optram_mb", "roi", "doppler_file", "ml_ran", "ml_azi", "ml_gain",
        "grid_step_range", "grid_step_azimut", "grid_threshold", "grid_gap", "grid_advantage", "interferogram_gain",
        "activate_interferogram", "esd_iter", "activate_ortho", "spacingxy_deg", "ortho_epsg", "activate_filtering",
        "filtered_ml_ran", "filtered_ml_azi", "filtering_alpha", "source")
INPUTS = ("input_path", "srtm_shapefile", "srtm_path", "dem_path", "geoid", "master_image", "start_date",
          "end_date", "exclude", "mode", "swath", "polarisation")


def minimal(**sections) -> dict:
    raw = {"Global": {"in": {"Input_Path": "lake", "SRTM_Path": "srtm"}, "out": {"Output_Path": "out"}}}
    raw.update(sections)
    return raw


def is_flag(key: str) -> bool:
    return schema_node(key).get("$ref", "").endswith("/flag")


def test_every_schema_default_reaches_the_typed_config():
    raw = minimal()
    cfg = from_dict(raw)
    given = {f"Global.{part}.{name}" for part in raw["Global"] for name in raw["Global"][part]}
    where = key_fields()
    with_default = [k for k in schema_leaf_keys() if "default" in schema_node(k) and k not in given]
    assert len(with_default) > 25
    for key in with_default:
        if key in UNUSED_KEYS:
            assert key not in where, f"{key} is both unused and held by a field"
            continue
        assert key in where, f"{key} has a default but no typed field"
        attr, name = where[key]
        value = getattr(getattr(cfg, attr), name)
        default = schema_default(key)
        if is_flag(key):
            expected = C.to_bool(default, key)
        elif key == "Global.in.Exclude":
            expected = tuple(C.parse_exclude(default))
        elif isinstance(default, list):  # lists are tuples in the frozen sections (Compute.jobqueue.prologue)
            expected = tuple(default)
        else:
            expected = default
        if schema_node(key).get("type") == "number":
            expected = float(expected)  # a JSON number written as an integer (1000) is a float field
        assert value == expected and type(value) is type(expected), f"{key}: {value!r} != schema {default!r}"
    # every typed field holds a schema key; the two keys without a default are required
    for key in where:
        node = schema_node(key)
        assert "default" in node or key in ("Global.in.Input_Path", "Global.out.Output_Path"), key


def test_sections_are_frozen_typed_and_have_no_default_in_code():
    cfg = from_dict(minimal())
    for attr, cls in SECTIONS.items():
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen, cls
        for f in dataclasses.fields(cls):
            assert f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING, \
                f"{cls.__name__}.{f.name} has a default in code"
            assert C.field_description(cls, f.name), f"{cls.__name__}.{f.name} has no description"
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(getattr(cfg, attr), dataclasses.fields(cls)[0].name, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.source = "x"


def _constants(path: Path) -> list[object]:
    return [n.value for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(n, ast.Constant)]


def test_no_default_literal_is_repeated_in_code():
    """Neither the config module nor SAR_MultiSlc.py's parser writes a schema default again: no .get(key,
    fallback), no argparse default other than None, no number or name that is a schema default."""
    defaults = {json.dumps(schema_default(k)) for k in schema_leaf_keys() if "default" in schema_node(k)}
    key_names = {part for k in schema_leaf_keys() for part in k.split(".")}
    # words of the format the parsers must know (booleans, DiapOTB's "no date", the mode names), and the small
    # integers that index and count (regex groups, pairs)
    vocabulary = {'"yes"', '"no"', '"-9999"', '"SM"', "null", "false", "true", "0", "1", "2"}
    for path in CODE:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
                    and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value in key_names:
                assert len(node.args) < 2, f"{path.name}:{node.lineno}: .get() of a key with a fallback value"
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg == "default" and isinstance(node.func, ast.Attribute) \
                            and node.func.attr == "add_argument":
                        assert isinstance(kw.value, ast.Constant) and kw.value.value is None, \
                            f"{path.name}:{node.lineno}: argparse default written in code"
        repeated = {json.dumps(v) for v in _constants(path)
                    if isinstance(v, int | float | str) and not isinstance(v, bool)} & (defaults - vocabulary)
        assert not repeated, f"{path.name} repeats schema defaults {sorted(repeated)}"


def test_to_dict_keeps_the_flat_names_and_values():
    raw = minimal(DIn_SAR={"parameter": {"ESD_threshold": 0.5}})
    raw["Global"]["in"].update(Swath="S4", Exclude="20200105 20200101", Fill_Missing_DEM="yes")
    raw["Global"]["parameter"] = {"roi": [10, 45, 11, 44]}
    cfg = from_dict(raw, source="c.json")
    d = cfg.to_dict()
    assert tuple(d) == ("inputs", *FLAT) and tuple(d["inputs"]) == INPUTS
    for name in FLAT:
        value = getattr(cfg, name)
        assert d[name] == (str(value) if isinstance(value, Path) else list(value) if isinstance(value, tuple)
                           else value), name
    assert d["inputs"]["swath"] == "S4" and d["inputs"]["exclude"] == ["20200101", "20200105"]
    json.dumps(d)  # serialisable
    # the keys added since are in the sections' view, not in the hashed one
    s = cfg.sections_dict()
    assert s["esd"]["threshold"] == 0.5 and s["inputs"]["fill_missing_dem"] is True
    assert "esd_threshold" not in json.dumps(d) and "fill_missing" not in json.dumps(d)


def test_flat_names_are_read_only_views_of_the_sections():
    cfg = from_dict(minimal())
    where = {(attr, name) for attr, name in key_fields().values()}
    for name in FLAT[:-1]:
        assert isinstance(getattr(MultiSlcConfig, name), property), name
        with pytest.raises(AttributeError):
            setattr(cfg, name, None)
    assert ("multilook", "ml_ran") in where and cfg.ml_ran is cfg.multilook.ml_ran
    assert cfg.esd_iter == cfg.esd.iterations and cfg.grid_step_azimut == cfg.grid.step_azimut


# ---- IW keys -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode,swath,expected", [
    ("IW", "IW2", ("IW2",)),
    ("IW", ["IW3", "IW1"], ("IW1", "IW3")),
    ("IW", "all", C.MODE_SWATHS["IW"]),
    ("IW", None, None),
    ("SM", "S4", ("S4",)),
])
def test_swath_names_lists_and_all(mode, swath, expected):
    raw = minimal()
    raw["Global"]["in"].update(Mode=mode, Swath=swath)
    cfg = from_dict(raw)
    assert cfg.inputs.swaths == expected
    assert cfg.inputs.swath == (expected[0] if expected and len(expected) == 1 else None)


@pytest.mark.parametrize("mode,swath,words", [
    ("SM", "IW1", ["Global.in.Swath", "IW1", "Mode SM"]),
    ("IW", "S1", ["Global.in.Swath", "S1", "Mode IW"]),
    ("SM", "all", ["Global.in.Swath", "one beam"]),
    ("IW", "IW4", ["Global.in.Swath", "IW4", "wrong form"]),
    ("IW", ["IW1", "IW1"], ["Global.in.Swath", "non-unique"]),
    ("IW", [], ["Global.in.Swath", "non-empty"]),
    ("IW", ["S1"], ["Global.in.Swath", "S1"]),
])
def test_bad_swaths_name_the_key(mode, swath, words):
    raw = minimal()
    raw["Global"]["in"].update(Mode=mode, Swath=swath)
    with pytest.raises(ConfigError) as exc:
        from_dict(raw)
    assert "\n" not in str(exc.value)
    for w in words:
        assert w in str(exc.value)


def test_esd_keys():
    cfg = from_dict(minimal(DIn_SAR={"parameter": {"ESD_iter": 0, "ESD_threshold": 0.6}}))
    assert (cfg.esd.iterations, cfg.esd.threshold, cfg.esd_iter) == (0, 0.6, 0)
    for key in ("DIn_SAR.parameter.ESD_iter", "DIn_SAR.parameter.ESD_threshold"):
        assert "IW only" in schema_node(key)["description"]
    with pytest.raises(ConfigError, match=r"DIn_SAR.parameter.ESD_threshold: 1.5 is out of range"):
        from_dict(minimal(DIn_SAR={"parameter": {"ESD_threshold": 1.5}}))


# ---- adjustments, overrides ------------------------------------------------------------------------------------

def test_multilook_flag_records_grid_step_adjustments():
    step = 60
    cfg = from_dict(minimal(DIn_SAR={"parameter": {"GridStep_range": step, "GridStep_azimut": step}}))
    assert cfg.adjustments == ()
    new = apply_overrides(cfg, Overrides(ml=(7, 5)))
    rounded = round(step / 7) * 7
    assert rounded != step and new.grid_step_range == rounded and new.grid_step_azimut == step
    assert len(new.adjustments) == 1
    text = new.adjustments[0]
    for w in ("GridStep_range", f"{step} -> {rounded}", "ML_ran 7", "-ml", "multiple"):
        assert w in text
    assert cfg.adjustments == () and cfg.grid_step_range == step
    # adjustments accumulate over successive overrides; factors that divide the steps change nothing
    again = apply_overrides(new, Overrides(ml=(rounded // 3, 7)))
    assert len(again.adjustments) == 2 and "GridStep_azimut" in again.adjustments[1]
    assert apply_overrides(cfg, Overrides(ml=(5, 6))).adjustments == ()


@pytest.mark.parametrize("overrides,words", [
    (Overrides(ram_mb=10), ["-ram (Global.parameter.optram)", "10", ">= 64"]),
    (Overrides(spacingxy_deg=2.0), ["-spacingxy (Post_Processing.parameter.Spacingxy)", "<= 1"]),
    (Overrides(ml=(0, 2)), ["-ml (Pre_Processing.parameter.ML_ran)", ">= 1"]),
    (Overrides(bursts="4-2"), ["-b (Global.parameter.burst_index)", "before the first"]),
    (Overrides(bursts="x"), ["-b (Global.parameter.burst_index)", "wrong form"]),
    (Overrides(start_date="20200230"), ["-d (Global.in.Start_Date)", "calendar date"]),
    (Overrides(exclude=("2020",)), ["-e", "not a date"]),
])
def test_bad_flags_give_one_line_naming_flag_and_key(overrides, words):
    with pytest.raises(ConfigError) as exc:
        apply_overrides(from_dict(minimal()), overrides)
    msg = str(exc.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg


def _help_text() -> str:
    proc = subprocess.run([sys.executable, "-m", "diapsar.chains.cli", "--help"], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return " ".join(proc.stdout.split())


def test_help_shows_schema_descriptions_and_defaults_of_every_flag():
    text = _help_text()
    for spelling in ("CONFIG", "[-d YYYYMMDD]", "[-f YYYYMMDD]", "[-e YYYYMMDD [YYYYMMDD ...]]", "[-m MASTER]",
                     "[-b FIRST-LAST]", "[-roi ULX ULY LRX LRY]", "[-i yes|no]", "[-o yes|no]", "[-l yes|no]",
                     "[-ram MB]", "[-spacingxy DEG]", "[-ml RG AZ]", "[--fill-sea]", "[--demo OUTDIR]",
                     "[--debug]", "[--version]"):
        assert spelling.lower() in text.lower(), spelling
    for f in dataclasses.fields(Overrides):
        keys = f.metadata["keys"]
        shown = []
        for key in keys:
            d = schema_default(key)
            shown.append(("yes" if C.to_bool(d) else "no") if is_flag(key) else
                         "none" if d in (None, "-9999") else str(d))
            assert " ".join(schema_node(key)["description"].split()) in text, key
        assert f"default: {' '.join(shown)}]" in text, f.metadata["flag"]
    # the two a user found without a default
    assert "-o yes|no Orthorectify" in text and "Activate_Ortho; default: no]" in text
    assert "ML_azi; default: 3 3]" in text


def test_command_line_flags_become_typed_overrides():
    args = chain_cli.build_parser().parse_args(
        ["c.json", "-d", "20200101", "-e", "20200105", "20200107", "-roi", "1", "2", "3", "0", "-i", "no", "-o",
         "yes", "-l", "false", "-ram", "512", "-ml", "4", "2", "--fill-sea"])
    ov = chain_cli.overrides_from_args(args)
    assert ov == Overrides(start_date="20200101", exclude=("20200105", "20200107"), roi=(1.0, 2.0, 3.0, 0.0),
                           interferogram=False, ortho=True, light=False, ram_mb=512, ml=(4, 2), fill_sea=True)
    assert chain_cli.overrides_from_args(chain_cli.build_parser().parse_args(["c.json"])) == Overrides()


def test_bad_flag_ends_as_one_line_on_stderr(tmp_path, capsys):
    p = tmp_path / "c.json"
    p.write_text(json.dumps(minimal()))
    code = chain_cli.main([str(p), "-ram", "10"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "\n" not in err and "-ram (Global.parameter.optram)" in err


# ---- missing DEM tiles -----------------------------------------------------------------------------------------

def test_fill_missing_dem_key_flag_and_the_error_hint(tmp_path):
    from diapsar.commands import dem as dem_command
    from diapsar.io.dem import build_scene_dem, find_tiles

    assert from_dict(minimal()).inputs.fill_missing_dem is C.to_bool(schema_default("Global.in.Fill_Missing_DEM"))
    raw = minimal()
    raw["Global"]["in"]["Fill_Missing_DEM"] = "yes"
    cfg = from_dict(raw)
    assert cfg.inputs.fill_missing_dem is True
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    bbox = (12.40, 41.96, 12.54, 42.04)
    with pytest.raises(DemError) as exc:
        find_tiles(tiles, bbox)
    msg = str(exc.value)
    # every way out the hint names exists: the configuration key, SAR_MultiSlc.py's flag, diapsar dem's flag
    assert "Global.in.Fill_Missing_DEM" in msg and schema_node("Global.in.Fill_Missing_DEM")
    assert "SAR_MultiSlc.py" in msg and "--fill-sea" in chain_cli.build_parser()._option_string_actions
    parser = __import__("argparse").ArgumentParser()
    dem_command.add_arguments(parser)
    assert "diapsar dem: --fill-sea" in msg and "--fill-sea" in parser._option_string_actions
    # following it: the configured option fills the cell with sea level
    vrt = build_scene_dem(tiles, bbox, tmp_path / "dem_scene.vrt", fill_missing=cfg.inputs.fill_missing_dem)
    assert vrt.exists()


def test_config_module_passes_mypy_strict():
    pytest.importorskip("mypy")
    proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
                           "diapsar/config.py"], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
