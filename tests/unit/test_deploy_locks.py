"""The lock files: every dependency pinned with hashes, consistent with pyproject.toml and with each other."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest

from tests.support.deploy.locks import pins, requirement_pins

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf-8")
LOCKS = {
    "requirements.lock": PROJECT["project"]["dependencies"],
    "requirements-build.lock": PROJECT["build-system"]["requires"],
    "requirements-dev.lock": PROJECT["project"]["dependencies"]
    + PROJECT["project"]["optional-dependencies"]["dev"]
    + PROJECT["build-system"]["requires"],
    "requirements-bench.lock": PROJECT["project"]["dependencies"]
    + PROJECT["project"]["optional-dependencies"]["bench"],
}


@pytest.mark.parametrize("lock", list(LOCKS))
def test_each_lock_pins_every_direct_requirement_at_pyprojects_version(lock) -> None:
    locked = pins(ROOT / lock)
    for name, version in requirement_pins(LOCKS[lock]).items():
        assert name in locked, f"{lock} lacks {name}: run `make lock` after changing pyproject.toml"
        assert locked[name].version == version, (
            f"{lock} pins {name}=={locked[name].version}, pyproject.toml {version}: run `make lock`"
        )


@pytest.mark.parametrize("lock", list(LOCKS))
def test_every_locked_distribution_carries_hashes(lock) -> None:
    locked = pins(ROOT / lock)
    assert len(locked) >= len(requirement_pins(LOCKS[lock]))
    assert all(pin.hashes for pin in locked.values()), [name for name, pin in locked.items() if not pin.hashes]


def test_the_locks_agree_on_every_distribution_they_share() -> None:
    runtime = pins(ROOT / "requirements.lock")
    for lock in LOCKS:
        other = pins(ROOT / lock)
        for name in runtime.keys() & other.keys():
            assert other[name].version == runtime[name].version, f"{lock} and requirements.lock differ on {name}"
    dev = pins(ROOT / "requirements-dev.lock")
    assert runtime.keys() <= dev.keys(), "the dev venv runs the services too"


def _recipe_commands() -> list[list[str]]:
    """Returns the `make lock` recipe's pip-compile commands as argv, $(LOCK_FLAGS) expanded, options in --long=value form."""
    text = MAKEFILE.replace("\\\n", " ")
    flags = re.search(r"^LOCK_FLAGS := (.*)$", text, re.M).group(1)
    flags = re.sub(r"\$\(if \$\(\w+\),[^)]*\)", "", flags)  # UPGRADE=1 only
    recipe = re.search(r"^lock:.*\n((?:\t.*\n)+)", text, re.M).group(1)
    commands = []
    for line in recipe.splitlines():
        words = shlex.split(line.replace("$(LOCK_FLAGS)", flags))
        long_form = {
            "-c": "--constraint",
            "-o": "--output-file",
            "--build-deps-for": "--build-deps-for",
            "--extra": "--extra",
        }
        normal, i = [], 1
        while i < len(words):
            if words[i] in long_form:
                normal.append(f"{long_form[words[i]]}={words[i + 1]}")
                i += 2
            else:
                normal.append(words[i])
                i += 1
        commands.append(normal)
    return commands


def test_make_installs_only_from_the_locks() -> None:
    install = [line.split() for line in MAKEFILE.splitlines() if "pip install" in line]
    assert install and all("--require-hashes" in words or "--no-deps" in words for words in install), install
    assert not re.search(r"pip install[^\n]*==", MAKEFILE), "versions live in pyproject.toml and the locks only"


@pytest.mark.parametrize("lock", list(LOCKS))
def test_make_lock_regenerates_each_lock_with_the_command_its_header_records(lock) -> None:
    header = re.search(r"#    pip-compile (.*)", (ROOT / lock).read_text(encoding="utf-8")).group(1)
    recorded = set(shlex.split(header))
    made = [set(argv) - {"--quiet"} for argv in _recipe_commands() if f"--output-file={lock}" in argv]
    assert made == [recorded], f"`make lock` and the header of {lock} differ"
