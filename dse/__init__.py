"""dse: design-space exploration of FPGA accelerators (smolVLA vision encoder on an Alveo U280)."""

from __future__ import annotations

__version__ = "0.1.0"

#: Stored with every result row; bump when the model's numbers change for the same inputs.
MODEL_VERSION = "2.4.0"
