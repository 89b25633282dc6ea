"""numba kernels of diapsar: every numba-compiled loop of the package lives here (one home), with a docstring.

- :mod:`diapsar.kernels.geodesy`: WGS84 constants, geodetic <-> ECEF.
- :mod:`diapsar.kernels.orbit_state`: orbit position/velocity/acceleration from ``Orbit``'s Newton tables.
- :mod:`diapsar.kernels.range_doppler`: zero-Doppler solve (geo2rdr), rdr2geo at a height, topographic phase.
- :mod:`diapsar.kernels.dem`: bilinear DEM lookup and the DEM intersection (rdr2geo on the DEM).
- :mod:`diapsar.kernels.windows`: block sums (multilook), running box sums, interferogram cell sums, lag-one
  azimuth sums (Doppler centroid).
- :mod:`diapsar.kernels.sinc`: windowed-sinc lookup tables, grid → dense shift, 2-D complex resampling.
- :mod:`diapsar.kernels.correlation`: normalised cross-correlation search and DFT-upsampled sub-pixel peaks.
- :mod:`diapsar.kernels.interp`: bilinear upsampling/sampling of ML grids, cubic convolution (simulator).
- :mod:`diapsar.kernels.binning`: DEM posts into multilook cells (cartesian mean post count).
- :mod:`diapsar.kernels.facets`: cast shadow and facet splatting of the amplitude simulation.
- :mod:`diapsar.kernels.area`: look vectors of a map block, illuminated-area splat of terrain flattening.
- :mod:`diapsar.kernels.calibrate`: |DN|^2, noise subtraction and calibration of a block in one pass.
- :mod:`diapsar.kernels.simulation`: pixel synthesis of the simulator.
- :mod:`diapsar.kernels.trig`: float32 complex exponentials.
- :mod:`diapsar.kernels.speckle`: boxcar, Lee and refined Lee filters, local means of the multi-temporal filter.
- :mod:`diapsar.kernels.polarimetry`: dual-pol covariance window sums and the H/A/alpha eigen-decomposition.

No kernel is compiled with ``fastmath``: it lets LLVM rewrite floating-point arithmetic, and numba compiles
the body of a parallel kernel twice (the copy the compiling process runs, the copy stored in the cache), so
products would differ between a first run and later ones (tests/test_95_reproducible.py, test_24_kernels.py).

Kernels work on arrays (or a strip of rows) and are wrapped by the modules that use them (``geometry``,
``cartesian_mean``, ``ortho``, ...), which keep the public, numpy-level API.
"""
