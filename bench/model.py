"""What a section reports: figures with their reference, ratio and target, plus series for the plots."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

OK = "ok"
NOT_RUN = "not run"
FAILED = "failed"


@dataclass
class Target:
    """A goal: `ratio >= bound` ("ratio"), `ratio <= bound` ("ratio at most"), `value <= bound` ("at most") or `value >= bound` ("at least")."""

    kind: str
    bound: float
    text: str

    def met(self, value: float, ratio: float | None) -> bool | None:
        """Tells whether the goal is met, or None when the figure needed for it is missing."""
        subject = ratio if self.kind.startswith("ratio") else value
        if subject is None or math.isnan(subject):
            return None
        return subject <= self.bound if self.kind.endswith("at most") else subject >= self.bound

    def shortfall(self, value: float, ratio: float | None) -> str:
        """Says by how much the goal is missed, e.g. '0.61x of 0.8x (24% short)'."""
        subject = ratio if self.kind.startswith("ratio") else value
        if subject is None or math.isnan(subject) or not self.bound:
            return "not measured"
        unit = "x" if self.kind.startswith("ratio") else ""
        if self.kind.endswith("at most"):
            shown = f"{subject:.2f}x" if unit else f"{subject:.1f}"
            return f"{shown} against at most {self.bound:g}{unit} ({subject / self.bound - 1:.0%} over)"
        return f"{subject:.2f}{unit} against {self.bound:g}{unit} ({1 - subject / self.bound:.0%} short)"


@dataclass
class Figure:
    """One measured figure, with the reference measured in the same run and the ratio to it."""

    name: str
    value: float
    unit: str
    reference: str = ""
    reference_value: float | None = None
    target: Target | None = None
    detail: str = ""
    profile: dict[str, float] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """Returns value / reference_value, or None without a usable reference."""
        if self.reference_value is None or not self.reference_value or math.isnan(self.reference_value):
            return None
        return self.value / self.reference_value

    @property
    def met(self) -> bool | None:
        """Tells whether the figure's target is met (None: no target, or not measurable)."""
        return self.target.met(self.value, self.ratio) if self.target else None

    def to_json(self) -> dict[str, Any]:
        """Returns the figure as plain JSON, with the derived ratio and verdict."""
        return {
            "name": self.name,
            "value": _clean(self.value),
            "unit": self.unit,
            "reference": self.reference,
            "reference_value": _clean(self.reference_value),
            "ratio": _clean(self.ratio),
            "target": vars(self.target) if self.target else None,
            "met": self.met,
            "shortfall": self.target.shortfall(self.value, self.ratio) if self.target and self.met is False else "",
            "detail": self.detail,
            "profile": self.profile,
        }


@dataclass
class SectionResult:
    """The outcome of one section: its status, figures, plot series and free-text notes."""

    name: str
    title: str
    status: str = OK
    reason: str = ""
    figures: list[Figure] = field(default_factory=list)
    series: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """Returns the section as plain JSON."""
        return {
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "reason": self.reason,
            "seconds": round(self.seconds, 1),
            "figures": [f.to_json() for f in self.figures],
            "series": self.series,
            "notes": self.notes,
        }


class NotRunnable(Exception):
    """A section cannot run for a reason that is not a failure (e.g. its service does not exist yet)."""


def _clean(value: float | None) -> float | None:
    if value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value))):
        return None
    return round(value, 4)
