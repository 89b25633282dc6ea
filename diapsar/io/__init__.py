"""Input/output layer: SAFE products, orbit files, DEM tiles, rasters; no processing here.

``raster`` (GeoTIFF block writer/reader, GCPs, JSON sidecars), ``atomic`` (temporary name renamed on success),
``records`` (``.steps.json`` completion records), ``stack`` (images of a datalake, master/slave selection),
``window`` (the one window type), ``dem`` (tiles, ``dem_scene.vrt``, the one ``Dem`` type), ``blocks`` (row
blocks under the memory budget), ``safe``/``annotation``/``measurement``/``eof`` (products and orbits).
"""
