"""The deterministic demo world: real footage, planted tastes, known truth.

``build_demo_world(root)`` writes the pipeline's raw inputs (contract v1) plus the labelled
truth (``datasets.truth``) so any run can be scored against what was planted.
"""

from generec_core.demo.sources import CATEGORY_NAMES
from generec_core.demo.world import DemoWorld, DemoWorldMismatch, build_demo_world

__all__ = ["CATEGORY_NAMES", "DemoWorld", "DemoWorldMismatch", "build_demo_world"]
