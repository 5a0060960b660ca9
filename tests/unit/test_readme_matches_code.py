"""The README's reference parts against the code and CI: every variable the code reads is listed, and the same prerequisites."""

from __future__ import annotations

import re

from tests.support.processes import ROOT

README = ROOT / "README.md"


def variables_read_by_the_code() -> set[str]:
    names: set[str] = set()
    for path in [
        ROOT / "eventkit" / "config.py",
        ROOT / "eventkit" / "transport_settings.py",
        ROOT / "eventkit" / "database_settings.py",
        *(ROOT / "devtools").glob("*.py"),
        *(ROOT / "users_client").glob("*.py"),
    ]:
        text = path.read_text()
        names |= set(
            re.findall(
                r"""(?:_int|_float|_required|_schema|integer|boolean|file_bytes|get|env\.get|environ\.get)\(\s*(?:env,\s*)?["']([A-Z][A-Z0-9_]+)["']""",
                text,
            )
        )
        names |= set(re.findall(r"""environ\[["']([A-Z][A-Z0-9_]+)["']\]""", text))
        # The variables that place a database are declared together (database_settings._Variables).
        for declared in re.findall(r"_Variables\((.*?)\)", text, re.S):
            names |= set(re.findall(r"\"([A-Z][A-Z0-9_]+)\"", declared))
    return names - {"DEBIAN_FRONTEND"}  # set for apt-get, not read


def test_the_readme_lists_every_environment_variable_the_code_reads() -> None:
    configuration = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", configuration, re.M))
    read = variables_read_by_the_code()
    scanned = {
        "EVENT_STORE_DSN",
        "LOCAL_PG_PORT",
        "PG_BINDIR",
        "USERS_COMMAND_ADDR",
        "TLS_CLIENT_CA_FILE",
        "GRPC_REFLECTION",
        "READ_MODEL_MIGRATION_PASSWORD",
    }
    assert scanned <= read  # the scan itself works
    assert read - listed == set(), "variables the code reads that README.md does not list"


def test_the_readme_and_ci_ask_for_the_same_prerequisites() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "apt-get install -y -q make python3-venv" in ci and "make test" in ci
    assert "apt-get install -y make python3-venv" in README.read_text()
