"""MultiSlc configuration: schema, examples, defaults, one-line errors naming the key, flag overrides."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from diapsar.config import SCHEMA_PATH, Overrides, apply_overrides, from_dict, load_config, load_schema
from diapsar.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def minimal(**sections) -> dict:
    cfg = {"Global": {"in": {"Input_Path": "lake", "SRTM_Path": "srtm"}, "out": {"Output_Path": "out"}}}
    for k, v in sections.items():
        cfg[k] = v
    return cfg


def test_schema_is_valid_draft_2020_12_and_documents_every_key():
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"].endswith("2020-12/schema")

    def walk(node, path):
        for name, sub in node.get("properties", {}).items():
            assert "description" in sub, f"{path}.{name} has no description"
            if sub.get("type") == "object":
                assert sub.get("additionalProperties") is False, f"{path}.{name} accepts unknown keys"
                walk(sub, f"{path}.{name}")
            elif name not in ("Input_Path", "Output_Path"):
                assert "default" in sub, f"{path}.{name} has no default"

    walk(schema, "")


@pytest.mark.parametrize("path", sorted(p for p in (REPO / "config").glob("*.json")
                                       if not p.name.endswith(".schema.json")
                                       and not p.name.startswith("backscatter")),  # (tests/test_69)
                         ids=lambda p: p.name)
def test_example_configs_validate(path):
    cfg = load_config(path)
    assert cfg.grid_step_range % cfg.ml_ran == 0
    assert cfg.grid_step_azimut % cfg.ml_azi == 0


def test_defaults_and_relative_paths(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps(minimal()))
    cfg = load_config(p)
    assert cfg.inputs.input_path == tmp_path / "lake"
    assert cfg.output_path == tmp_path / "out"
    assert (cfg.ml_ran, cfg.ml_azi, cfg.optram_mb, cfg.spacingxy_deg) == (3, 3, 4000, 0.0001)
    assert cfg.clean is True and cfg.activate_interferogram is True and cfg.activate_ortho is False
    assert cfg.inputs.polarisation == "VV" and cfg.inputs.exclude == ()


@pytest.mark.parametrize("value,expected", [("yes", True), ("no", False), ("true", True), ("False", False),
                                            (True, True), (False, False)])
def test_booleans_as_diapotb_strings_or_json(value, expected):
    cfg = from_dict(minimal(Post_Processing={"parameter": {"Activate_Ortho": value}}))
    assert cfg.activate_ortho is expected


@pytest.mark.parametrize("raw,words", [
    (minimal(Pre_Processing={"parameter": {"ML_ran": 4}}), ["GridStep_range", "ML_ran", "multiple"]),
    (minimal(DIn_SAR={"parameter": {"GridStep_azimut": 100}}), ["GridStep_azimut", "multiple"]),
    (minimal(Pre_Processing={"parameter": {"ML_ran": "3"}}), ["Pre_Processing.parameter.ML_ran", "type"]),
    (minimal(Pre_Processing={"parameter": {"ML_azi": 0}}), ["Pre_Processing.parameter.ML_azi", ">= 1"]),
    (minimal(DIn_SAR={"parameter": {"Grid_Threshold": 1.5}}), ["Grid_Threshold", "<= 1"]),
    (minimal(DIn_SAR={"parameter": {"Gridstep_range": 150}}), ["DIn_SAR.parameter.Gridstep_range", "unknown"]),
    (minimal(Post_Processing={"parameter": {"Activate_Ortho": "maybe"}}), ["Activate_Ortho", "maybe"]),
    (minimal(Post_Processing={"parameter": {"Spacingxy": -1}}), ["Spacingxy", "> 0"]),
    (minimal(Post_Processing={"parameter": {"Ortho_EPSG": 1025}}), ["Ortho_EPSG", "1025"]),
    (minimal(Extra={}), ["Extra", "unknown"]),
    (minimal(Metadata_Correction={"parameter": {"activate": "yes"}}), ["Metadata_Correction", "not supported"]),
    ({"Global": {"in": {"Input_Path": "x", "SRTM_Path": "y"}}}, ["Global.out", "missing"]),
    ({"Global": {"in": {"Input_Path": "x"}, "out": {"Output_Path": "o"}}}, ["SRTM_Path", "DEM_Path"]),
])
def test_bad_configs_give_one_line_naming_the_key(raw, words):
    with pytest.raises(ConfigError) as exc:
        from_dict(raw)
    msg = str(exc.value)
    print(msg)
    assert "\n" not in msg
    for w in words:
        assert w in msg


def test_dates_checked(tmp_path):
    bad = minimal()
    bad["Global"]["in"].update(Start_Date="20200230")
    with pytest.raises(ConfigError, match="Start_Date.*valid calendar date"):
        from_dict(bad)
    bad["Global"]["in"].update(Start_Date="20200301", End_Date="20200201")
    with pytest.raises(ConfigError, match="Start_Date.*after"):
        from_dict(bad)
    ok = minimal()
    ok["Global"]["in"]["Exclude"] = "20200101, 20200113"
    assert from_dict(ok).inputs.exclude == ("20200101", "20200113")


def test_invalid_json_and_missing_file(tmp_path):
    p = tmp_path / "c.json"
    p.write_text('{"Global": {')
    with pytest.raises(ConfigError, match="invalid JSON at line 1"):
        load_config(p)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.json")


def test_flags_override_config():
    cfg = from_dict(minimal())
    new = apply_overrides(cfg, Overrides(start_date="20200101", end_date="20200201", exclude=("20200113",),
                                         master="20200107", bursts="2-4", roi=(10, 45, 11, 44), interferogram=False,
                                         ortho=True, light=False, ram_mb=512, spacingxy_deg=0.0002, ml=(8, 2),
                                         fill_sea=True))
    assert (new.inputs.start_date, new.inputs.end_date, new.inputs.exclude) == ("20200101", "20200201",
                                                                              ("20200113",))
    assert new.inputs.master_image == "20200107" and new.burst_index == (2, 4) and new.roi == (10, 45, 11, 44)
    assert (new.activate_interferogram, new.activate_ortho, new.clean) == (False, True, False)
    assert (new.optram_mb, new.spacingxy_deg, new.ml_ran, new.ml_azi) == (512, 0.0002, 8, 2)
    assert new.inputs.fill_missing_dem is True and cfg.inputs.fill_missing_dem is False
    # grid steps follow the new factors (150 -> nearest multiple of 8 and of 2)
    assert new.grid_step_range % 8 == 0 and new.grid_step_azimut % 2 == 0
    assert cfg.ml_ran == 3, "the original configuration is left unchanged"
    assert apply_overrides(cfg, Overrides()) == cfg, "no flag given: nothing changes"
    with pytest.raises(ConfigError, match="roi.*ulx uly lrx lry"):
        apply_overrides(cfg, Overrides(roi=(11, 44, 10, 45)))
    with pytest.raises(ConfigError, match=r"-f \(Global.in.End_Date\): '2020-01-01'.*YYYYMMDD"):
        apply_overrides(cfg, Overrides(end_date="2020-01-01"))


def test_repository_schema_is_the_packaged_one():
    """config/multislc.schema.json (what users read) is the schema the installed package validates with."""
    assert (REPO / "config" / "multislc.schema.json").resolve() == SCHEMA_PATH.resolve()
