"""Sentinel-1 SLC stacks with known truth (synthetic or real geometry), written as SAFE products.

Public API: ``simulate_stack`` (synthetic SM/IW geometry), ``simulate_from_safe`` (real IW geometry),
``SimulationResult``; ``TRUTH_BANDS`` lists the bands of the truth rasters (``diapsar.simulate.truth``).
"""

from .api import SimulationResult, simulate_stack
from .real import simulate_from_safe
from .truth import BANDS as TRUTH_BANDS

__all__ = ["SimulationResult", "TRUTH_BANDS", "simulate_from_safe", "simulate_stack"]
