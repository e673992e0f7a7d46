"""What a command's workflow hands back to the CLI: the lines a person reads, and the JSON form of the same."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CommandOutput:
    """lines: printed one per line. data: printed as JSON instead when the user asked for --json (None: the
    command has no JSON form). indent: JSON indentation (None: one line)."""

    lines: list[str] = field(default_factory=list)
    data: Any = None
    indent: int | None = None

    def json(self) -> str:
        """`data` as strict JSON (NaN refused; values JSON cannot hold become null)."""
        return json.dumps(self.data, indent=self.indent, allow_nan=False, default=lambda value: None)
