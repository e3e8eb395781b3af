"""nasbench1shot1: one-shot NAS on the NAS-Bench-1Shot1 spaces, scored against NAS-Bench-101."""

__version__ = "0.1.0"
