"""The image's Dockerfile and build context, checked against the code, the Makefile and the manifests."""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.support.deploy import code
from tests.support.deploy.compose import environment, load
from tests.support.deploy.image import Dockerfile, Stage, hadolint, ignored, parse
from tests.support.deploy.locks import pins
from tests.support.processes import PORT_VARIABLE

ROOT = Path(__file__).resolve().parents[2]
DOCKERIGNORE = (ROOT / ".dockerignore").read_text(encoding="utf-8")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SECRET_NAMES = re.compile(r"DSN|PASSWORD|SECRET|TOKEN|CREDENTIAL|_KEY$")


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return parse(ROOT / "deploy" / "Dockerfile")


def runtime(dockerfile: Dockerfile) -> Stage:
    """The last stage: what the image ships."""
    return dockerfile.stages[-1]


def run_steps(stage: Stage) -> list[list[str]]:
    """Returns every `&&`-separated command of a stage's RUN instructions as argv."""
    return [shlex.split(step) for run in stage.all("RUN") for step in run.args.split("&&")]


def test_hadolint_finds_nothing_to_say_about_the_dockerfile() -> None:
    linted = hadolint(ROOT / "deploy" / "Dockerfile")
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_a_builder_stage_and_a_slim_runtime_share_one_python_base(dockerfile) -> None:
    assert len(dockerfile.stages) >= 2
    bases = {dockerfile.base_of(stage) for stage in dockerfile.stages}
    assert len(bases) == 1, f"the venv's interpreter links need the same base in every stage: {bases}"
    match = re.fullmatch(r"python:3\.(\d+)-slim(?:-\w+)?", bases.pop())
    assert match, "the runtime is a slim python image"
    required = re.search(r">=\s*3\.(\d+)", PYPROJECT["project"]["requires-python"])
    assert int(match.group(1)) >= int(required.group(1))


def test_the_runtime_stage_copies_only_the_venv_and_installs_nothing(dockerfile) -> None:
    stage = runtime(dockerfile)
    copies = [(c.flags().get("from"), c.operands()) for c in stage.all("COPY")]
    assert copies == [("builder", ["/opt/venv", "/opt/venv"])], "only the project venv reaches the runtime"
    for run in stage.all("RUN"):
        assert not re.search(r"\b(pip|apt-get|apt|gcc|make)\b", run.args), f"line {run.line} installs at run time"
    assert "grpcio-tools" not in pins(ROOT / "requirements.lock"), "grpcio-tools stays in the builder"
    assert "/opt/tools" not in " ".join(i.args for i in stage.instructions)


def test_the_builder_installs_only_from_the_lock_files_with_their_hashes(dockerfile) -> None:
    builder = dockerfile.stages[0]
    copied = [w for c in builder.all("COPY") for w in c.operands()[:-1]]
    assert {"requirements.lock", "requirements-build.lock"} <= set(copied)
    installs = [argv for argv in run_steps(builder) if argv[:1] and argv[0].endswith("/pip") and argv[1] == "install"]
    locked = [argv for argv in installs if "--requirement" in argv or "-r" in argv]
    assert len(locked) == 2 and all("--require-hashes" in argv and "--no-deps" in argv for argv in locked)
    # Anything else pip installs is the project's own wheel, built here, without dependencies.
    for argv in installs:
        assert argv in locked or ("--no-deps" in argv and argv[-1].endswith(".whl")), argv


def test_the_stubs_come_from_the_projects_own_build_hook_with_the_locked_build_tools(dockerfile) -> None:
    builder = dockerfile.stages[0]
    wheel = next(argv for argv in run_steps(builder) if argv[1:2] == ["wheel"])
    assert wheel[0] == "/opt/tools/bin/pip" and "--no-build-isolation" in wheel and wheel[-1] == "."
    # The build venv holds exactly what pyproject.toml's build-system requires, at the locked versions.
    tools = next(argv for argv in run_steps(builder) if argv[0] == "/opt/tools/bin/pip" and argv[1] == "install")
    assert tools[tools.index("--requirement") + 1] == "requirements-build.lock"
    required = {re.split(r"[=<>!~\[ ]", r, maxsplit=1)[0].lower() for r in PYPROJECT["build-system"]["requires"]}
    assert required <= set(pins(ROOT / "requirements-build.lock"))
    assert "grpc_tools.protoc" not in " ".join(r.args for s in dockerfile.stages for r in s.all("RUN"))


def test_the_container_runs_as_a_fixed_numeric_non_root_user(dockerfile) -> None:
    users = runtime(dockerfile).all("USER")
    assert users, "the runtime stage sets a USER"
    uid, _, gid = users[-1].args.partition(":")
    assert uid.isdigit() and int(uid) > 0 and gid.isdigit() and int(gid) > 0, "numeric, so runAsNonRoot can verify it"


def test_no_secret_or_service_setting_is_baked_into_the_image(dockerfile) -> None:
    for stage in dockerfile.stages:
        for name in list(stage.env()) + [a.args.split("=")[0] for a in stage.all("ARG")] + list(dockerfile.args):
            assert not SECRET_NAMES.search(name), f"{name} would be baked into the image"
    # Interpreter settings only: every service setting comes from the deployment.
    assert all(name == "PATH" or name.startswith("PYTHON") for name in runtime(dockerfile).env())
    for path in (".env", "deploy/.env", "deploy/production.env"):
        assert ignored(path, DOCKERIGNORE), f"{path} would enter the build context"


def test_the_default_command_is_one_the_e2e_tests_run_as_a_process(dockerfile) -> None:
    stage = runtime(dockerfile)
    assert not stage.all("ENTRYPOINT"), "a deployment's `command` replaces the CMD whole"
    module, args = code.module_command(stage.all("CMD")[-1].exec_form())
    assert module in PORT_VARIABLE and code.has_main(module) and not args


def test_exposed_ports_are_the_services_default_grpc_ports(dockerfile) -> None:
    compose = load(ROOT / "deploy" / "compose.yaml")["services"]
    defaults = {code.ports(module, environment(compose[module]))["grpc"] for module in PORT_VARIABLE}
    exposed = {int(p) for e in runtime(dockerfile).all("EXPOSE") for p in e.args.split()}
    assert exposed == defaults


def test_the_context_holds_what_the_build_names_and_leaves_out_local_state(dockerfile) -> None:
    named = [w for s in dockerfile.stages for c in s.all("COPY") if "from" not in c.flags() for w in c.operands()[:-1]]
    named += re.findall(r"\bdeploy/[\w.]+\.py\b", " ".join(r.args for s in dockerfile.stages for r in s.all("RUN")))
    for path in [p for p in named if p != "."] + ["pyproject.toml", "setup.py", "protos/users/v1/resources.proto"]:
        assert (ROOT / path).exists() and not ignored(path, DOCKERIGNORE), path
    for module in PORT_VARIABLE:
        assert not ignored(f"{module}/__main__.py", DOCKERIGNORE)
    assert not ignored("eventkit/migrations/event_store/0001_events.sql", DOCKERIGNORE)
    assert not ignored("users_client/cli.py", DOCKERIGNORE)
    for path in (
        ".git/HEAD",
        ".venv/bin/python",
        ".pgdata/data/PG_VERSION",
        "tests/conftest.py",
        "users/v1/command_service_pb2.py",
        "eventkit/__pycache__/config.cpython-311.pyc",
    ):
        assert ignored(path, DOCKERIGNORE), f"{path} would enter the build context"


def _context_copy(destination: Path) -> None:
    """Copies the repository as `docker build` would send it: without what .dockerignore leaves out."""
    keeps = [line.strip()[1:].strip("/") for line in DOCKERIGNORE.splitlines() if line.strip().startswith("!")]
    for folder, directories, files in os.walk(ROOT):
        relative = Path(folder).relative_to(ROOT)
        directories[:] = [
            d
            for d in directories
            if not ignored(str(relative / d), DOCKERIGNORE) or any(k.startswith(f"{relative / d}/") for k in keeps)
        ]
        for name in files:
            path = relative / name
            if not ignored(str(path), DOCKERIGNORE):
                (destination / path).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / path, destination / path)


def test_a_rehearsal_of_the_builder_stage_yields_a_package_with_every_entry_point(tmp_path) -> None:
    context = tmp_path / "context"
    _context_copy(context)
    # The builder's `pip wheel --no-build-isolation .`; its tools venv is ours here (same locked build tools).
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "wheel"),
            str(context),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, f"the builder's wheel step would fail:\n{built.stderr[-3000:]}"
    wheel = next((tmp_path / "wheel").glob("*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in PORT_VARIABLE:
        assert f"{module}/__main__.py" in names
    for sql in glob.glob("eventkit/migrations/*/*.sql", root_dir=ROOT):
        assert sql in names, f"{sql} is missing from the installed package"
    for proto in glob.glob("protos/users/v1/*.proto", root_dir=ROOT):
        stem = Path(proto).stem
        assert {f"users/v1/{stem}_pb2.py", f"users/v1/{stem}_pb2_grpc.py"} <= names
    assert not any(n.startswith(("tests/", "devtools/", "deploy/")) for n in names)
