"""Burst identity across dates (burst ID, else ANX time; never the index) and master burst selection, on the
real Morocco, Haida Gwaii, Sitka and Albania S1A/S1B annotations."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import pytest
from shapely.geometry import shape

from diapsar.baseline import match_bursts
from diapsar.bursts import (
    ORBIT_PERIOD_S,
    burst_footprints,
    match_swath_bursts,
    parse_burst_range,
    select_bursts_by_region,
)
from diapsar.errors import SelectionError
from diapsar.io.safe import open_annotation, open_product
from diapsar.metadata import SwathMetadata

PAIRS = {"morocco": "morocco_iw_pair_20230904_20230916", "haida": "haida_gwaii_iw_pair_20250406_20250418",
         "sitka": "sitka_iw3_single_burst_pair_20180628_20190705"}
# common bursts, by inspection of the annotations' <burstId> lists (identical slicing on both dates):
# (swath, first burst ID); every pair holds 9 bursts per swath matched index i <-> i
EXPECTED_FIRST_ID = {"morocco": {"IW1": 110431, "IW2": 110431, "IW3": 110430},
                     "haida": {"IW1": 230132, "IW2": 230132, "IW3": 230131}}


def _pair(s1_data: Path, name: str) -> tuple:
    safes = sorted((s1_data / PAIRS[name]).glob("*.SAFE"))
    if len(safes) != 2:
        pytest.skip(f"{PAIRS[name]} not found in {s1_data}")
    return open_product(safes[0]), open_product(safes[1])


def _reindexed(meta: SwathMetadata, keep: slice) -> SwathMetadata:
    out = copy.deepcopy(meta)
    out.bursts = [dataclasses.replace(b, index=k) for k, b in enumerate(out.bursts[keep])]
    return out


@pytest.mark.parametrize("name", ["morocco", "haida"])
def test_full_pairs_match_all_nine_bursts(s1_data, name):
    master, slave = _pair(s1_data, name)
    for sw, first in EXPECTED_FIRST_ID[name].items():
        m, s = master.swath(sw), slave.swath(sw)
        res = match_swath_bursts(m, s)
        assert res.method == "burst_id" and res.missing_in_slave == []
        assert [(p.master_index, p.slave_index, p.burst_id) for p in res.common] == \
            [(i, i, first + i) for i in range(9)]
        # the ANX-time rule (pre-IPF 3.40 products) finds the same bursts; same-burst ANX times agree to ms
        anx = match_swath_bursts(m, s, use_burst_id=False)
        assert anx.method == "anx_time"
        assert [(p.master_index, p.slave_index) for p in anx.common] == [(i, i) for i in range(9)]
        assert max(abs(p.anx_difference_s) for p in res.common) < 0.02
        assert match_bursts(m, s) == [(first + i, i, i) for i in range(9)]


def test_sitka_single_burst_pair(s1_data):
    master, slave = _pair(s1_data, "sitka")
    res = match_swath_bursts(master.swath("IW3"), slave.swath("IW3"))
    assert [(p.master_index, p.slave_index, p.burst_id) for p in res.common] == [(0, 0, 372326)]
    with pytest.raises(SelectionError, match="without bursts"):
        match_swath_bursts(master.swath("IW1"), slave.swath("IW1"))      # burst2safe wrote no IW1 burst list


def test_albania_s1a_s1b_share_the_track(s1_data):
    folder = s1_data / "albania_iw3_s1a_s1b_annotations_201908"
    xmls = sorted(folder.glob("*.xml"))
    if len(xmls) != 2:
        pytest.skip(f"Albania annotations not found in {folder}")
    a, b = (open_annotation(x) for x in xmls)
    assert (a.mission, b.mission) == ("S1A", "S1B")
    res = match_swath_bursts(a, b)
    assert [(p.master_index, p.slave_index, p.burst_id) for p in res.common] == \
        [(i, i, 154887 + i) for i in range(9)]
    anx = match_swath_bursts(a, b, use_burst_id=False)
    assert [(p.master_index, p.slave_index) for p in anx.common] == [(i, i) for i in range(9)]


def test_matching_is_by_identity_not_index(s1_data):
    """Slave sliced differently (its first 3 bursts dropped, last 2 of the master absent): indices differ."""
    master, slave = _pair(s1_data, "morocco")
    m = master.swath("IW2")
    s = _reindexed(slave.swath("IW2"), slice(3, 7))
    for use_id in (True, False):
        res = match_swath_bursts(m, s, use_burst_id=use_id)
        assert [(p.master_index, p.slave_index) for p in res.common] == [(3, 0), (4, 1), (5, 2), (6, 3)]
        assert res.missing_in_slave == [0, 1, 2, 7, 8]


def test_anx_time_rule_across_the_ascending_node(s1_data):
    """A burst just after the ANX on one date and its twin just before it (ANX times near 0 and near the
    orbit period) are the same burst: the comparison is modulo the orbit period."""
    master, slave = _pair(s1_data, "morocco")
    m, s = copy.deepcopy(master.swath("IW1")), copy.deepcopy(slave.swath("IW1"))
    for meta, shift in ((m, 0.0), (s, ORBIT_PERIOD_S)):
        t0 = meta.bursts[0].azimuth_anx_time_s
        meta.bursts = [dataclasses.replace(b, azimuth_anx_time_s=b.azimuth_anx_time_s - t0 + 0.5 - 0.003
                                           + (shift if k == 0 else 0.0)) for k, b in enumerate(meta.bursts)]
    s.bursts[0] = dataclasses.replace(s.bursts[0], azimuth_anx_time_s=s.bursts[0].azimuth_anx_time_s - 1.0)
    res = match_swath_bursts(m, s, use_burst_id=False)
    assert [(p.master_index, p.slave_index) for p in res.common] == [(i, i) for i in range(9)]


def test_different_tracks_and_unknown_missions_are_refused(s1_data):
    mo, _ = _pair(s1_data, "morocco")
    ha, _ = _pair(s1_data, "haida")
    with pytest.raises(SelectionError, match="not the same track"):
        match_swath_bursts(mo.swath("IW1"), ha.swath("IW1"))
    odd = copy.deepcopy(mo.swath("IW1"))
    odd.mission = "S1E"
    with pytest.raises(SelectionError, match="unknown mission 'S1E'"):
        match_swath_bursts(odd, mo.swath("IW1"))


def test_burst_range_selection():
    assert parse_burst_range("0-8", 9) == list(range(9))
    assert parse_burst_range(" 3 ", 9) == [3]
    assert parse_burst_range("2-4", 9) == [2, 3, 4]
    for bad, msg in (("0-9", "outside the swath's bursts 0-8"), ("5-2", "after last"), ("a-b", "form")):
        with pytest.raises(SelectionError, match=msg) as info:
            parse_burst_range(bad, 9)
        assert "\n" not in str(info.value)


def test_region_selection_on_morocco(s1_data):
    """The tiny Morocco ROI lies in the first burst of IW1 and IW2 (the README's DEM note says so: the DEM
    tiles cover burst 1 of IW1 and IW2), the small ROI in bursts 3-5 of IW1; IW3 (far range, west on this
    descending track) misses both, with a one-line error."""
    master, _ = _pair(s1_data, "morocco")
    folder = s1_data / PAIRS["morocco"]
    tiny = shape(json.loads((folder / "Morocco_tiny.geojson").read_text())["features"][0]["geometry"])
    small = shape(json.loads((folder / "Morocco_small.geojson").read_text())["features"][0]["geometry"])
    assert select_bursts_by_region(master.swath("IW1"), tiny) == [0]
    assert select_bursts_by_region(master.swath("IW2"), tiny) == [0]
    assert select_bursts_by_region(master.swath("IW1"), small) == [3, 4, 5]
    assert select_bursts_by_region(master.swath("IW2"), small.bounds) == [2, 3, 4, 5]
    with pytest.raises(SelectionError, match="misses every burst") as info:
        select_bursts_by_region(master.swath("IW3"), tiny)
    assert "\n" not in str(info.value)
    feet = burst_footprints(master.swath("IW1"))
    assert len(feet) == 9 and all(0.1 < f.area < 1.0 for f in feet)     # ~20 km x 85 km in deg²
    # consecutive bursts overlap a little (the TOPS burst overlap), non-neighbours do not
    assert feet[0].intersects(feet[1]) and not feet[0].intersects(feet[2])
