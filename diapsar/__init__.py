"""diapsar: Sentinel-1 differential SAR interferometry in Python (DiapOTB-style chains)."""

__version__ = "0.1.0"
