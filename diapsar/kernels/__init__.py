"""numba kernels shared by the chain applications.

- :mod:`diapsar.kernels.windows`: block sums (multilook), running box sums, interferogram cell sums.
- :mod:`diapsar.kernels.sinc`: windowed-sinc lookup tables, grid → dense shift, 2-D complex resampling.
- :mod:`diapsar.kernels.correlation`: normalised cross-correlation search and DFT-upsampled sub-pixel peaks.

Every kernel works on a strip (a block of rows) and is tested against a slow plain-numpy version.
"""
