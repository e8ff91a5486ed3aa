"""What the loader and the linter report: one Issue per problem, printed as file:line: node 'x': message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Issue:
    path: str
    line: int
    message: str
    node: str | None = None
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}: "
        if self.severity == "warning":
            where += "warning: "
        if self.node is not None:
            where += f"node '{self.node}': "
        return where + self.message


class FlowError(Exception):
    """A flow file that cannot be run; .issues lists every problem found."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


