"""Product layout of the MultiSlc chain: every folder name, file name and band list, defined once.

Other tools (the report, QuickMlView, users' scripts) rely on these names and band orders: do not change them.

    <Output_Path>/
        dem_scene.vrt                      DEM of the scene (tiles mosaic or the one DEM)
        run.json, info.log, index.html     run record, log, report
        <M>_master_directory/              master products (M = master date YYYYMMDD)
            master_ml_amplitude.tif, <Doppler file>, dem_projection.tif, cartesian_mean.tif,
            cartesian_mean_dem_posts.tif, ortho_lookup.tif
        <M>_m_<S>_s/                       one pair (S = slave date)
            slave_ml_amplitude.tif, <Doppler file>, topographic_phase.tif, deformation_grid.tif,
            slave_coregistered.tif, interferogram.tif, interferogram_filtered.tif, interferogram_ortho.tif,
            interferogram_filtered_ortho.tif, quicklook_*.png, pair.json
        every folder: .steps.json          completion records of its steps (resume)
"""

from __future__ import annotations


# ---- folders
def master_directory(master_date: str) -> str:
    return f"{master_date}_master_directory"


def pair_directory(master_date: str, slave_date: str) -> str:
    return f"{master_date}_m_{slave_date}_s"


# ---- files of the output folder
DEM_SCENE = "dem_scene.vrt"
RUN_JSON = "run.json"
STEPS_JSON = ".steps.json"
# scratch folder of the scene DEM while it is built (moved into place once it covers the scene)
DEM_SCRATCH_PREFIX = ".dem_scene."
DEM_SCRATCH_SUFFIX = ".tmp"


def dem_scratch(pid: int) -> str:
    return f"{DEM_SCRATCH_PREFIX}{pid}{DEM_SCRATCH_SUFFIX}"


# ---- master directory
MASTER_ML = "master_ml_amplitude.tif"
DEM_PROJECTION = "dem_projection.tif"
CARTESIAN_MEAN = "cartesian_mean.tif"
CM_COUNT = "cartesian_mean_dem_posts.tif"
ORTHO_LOOKUP = "ortho_lookup.tif"

# ---- pair directory
PAIR_JSON = "pair.json"
SLAVE_ML = "slave_ml_amplitude.tif"
GRID = "deformation_grid.tif"
TOPO = "topographic_phase.tif"
COREG = "slave_coregistered.tif"
IFG = "interferogram.tif"
IFG_FILTERED = "interferogram_filtered.tif"
IFG_ORTHO = "interferogram_ortho.tif"
IFG_FILTERED_ORTHO = "interferogram_filtered_ortho.tif"
UNWRAPPED = "unwrapped.tif"
UNWRAPPED_ORTHO = "unwrapped_ortho.tif"
QUICKLOOK_DISPLACEMENT = "quicklook_displacement.png"

# ---- band lists
ML_BANDS = ("amplitude",)
IFG_BANDS = ("amplitude", "phase", "coherence", "isData")
CM_BANDS = ("X", "Y", "Z", "isData")  # DiapOTB's layout; the DEM post count in CM_COUNT
CM_COUNT_BANDS = ("dem_post_count",)
DEMPROJ_BANDS = ("sample", "line", "X", "Y", "Z")
ORTHO_LOOKUP_BANDS = ("master_line", "master_sample")
GRID_BANDS = ("shift_range", "shift_azimuth", "dem_shift_range", "dem_shift_azimuth")
TOPO_BANDS = ("topographic_phase",)
COREG_BANDS = ("coregistered slave",)
UNWRAPPED_BANDS = ("unwrapped_phase", "displacement_los_mm", "connected_component")
