"""Sentinel-1 SLC stacks with known truth (synthetic or real geometry), written as SAFE products.

Public API: ``simulate_stack`` (synthetic SM/IW geometry), ``simulate_from_safe`` (real IW geometry, in
``diapsar.simulate.real``), ``SimulationResult``; the truth band names are ``diapsar.simulate.truth.BANDS``.
"""

from .api import SimulationResult, simulate_stack
from .truth import BANDS as TRUTH_BANDS

__all__ = ["SimulationResult", "TRUTH_BANDS", "simulate_stack"]
