"""What every step returns: the files it wrote and its main product, for callers that run steps in-process."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class StepResult:
    outputs: list[Path] = field(default_factory=list)  # files written (or, for a step that only reads, none)
    product: Any = None  # the step's main result: the manifest, the metrics, the variant groups, the aliases...
