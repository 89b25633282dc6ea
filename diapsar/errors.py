"""One exception type per kind of user mistake; the command-line layer turns each into one line."""


class DiapsarError(Exception):
    """Base class of every error a user can cause (bad input, missing data, bad config)."""

    exit_code = 1


class ProductError(DiapsarError):
    """A Sentinel-1 product (SAFE, zip, annotation, measurement) is missing, truncated or unreadable."""


class SelectionError(DiapsarError):
    """The asked swath, polarisation, burst, date or master does not exist in the input."""


class OrbitError(DiapsarError):
    """No orbit information covers the acquisition, or an orbit file is unreadable."""


class DemError(DiapsarError):
    """DEM tiles are missing or do not cover the area."""


class ConfigError(DiapsarError):
    """A configuration file or command-line option is invalid."""


class OutputError(DiapsarError):
    """An output location cannot be written."""


class DownloadError(DiapsarError):
    """A search or download against a remote service failed."""
