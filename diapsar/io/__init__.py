"""Input/output layer: SAFE products, orbit files, DEM tiles, rasters; no processing here."""
