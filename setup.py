"""Build hook: generates the gRPC stubs (users/v1/*_pb2*.py) from protos/ in every wheel, sdist and editable install."""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import ClassVar

from setuptools import Command, setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent
PROTOS = ROOT / "protos"


def generate_stubs(destination: Path) -> None:
    """Runs grpc_tools.protoc (a build requirement) over protos/users/v1, writing users/v1/ under `destination`."""
    # Imported here: only building needs grpc_tools (a build requirement), not every load of this file.
    from grpc_tools import protoc

    # `python -m grpc_tools.protoc` adds the bundled well-known types (google/protobuf/*.proto);
    # protoc.main does not, so the include is given here.
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    sources = sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / "users" / "v1").glob("*.proto"))
    if not sources:
        raise RuntimeError(f"no .proto files under {PROTOS / 'users' / 'v1'}")
    destination.mkdir(parents=True, exist_ok=True)
    out = str(destination)
    argv = ["protoc", f"-I{PROTOS}", f"-I{well_known}", f"--python_out={out}", f"--pyi_out={out}"]
    argv += [f"--grpc_python_out={out}", *sources]
    # protoc resolves the sources against -I, so it runs from the protos folder.
    if protoc.main(argv) != 0:
        raise RuntimeError(f"grpc_tools.protoc failed: {' '.join(argv)}")


class BuildWithStubs(build_py):
    """build_py that also generates the stubs: into the build folder, or the source tree when editable."""

    def run(self) -> None:
        super().run()
        # After the copy, so that stale stubs in a working tree never overwrite fresh ones.
        generate_stubs(ROOT if self.editable_mode else Path(self.build_lib))


class SdistWithStubs(sdist):
    """sdist that carries the generated stubs too, so a build from it needs no protoc step of its own."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        generate_stubs(Path(base_dir))


class Stubs(Command):
    """`python setup.py -q stubs`: generates the stubs into the source tree (what `make install` runs first)."""

    description = "generate the gRPC stubs into the source tree"
    user_options: ClassVar[list[tuple[str, str | None, str]]] = []

    def initialize_options(self) -> None:
        """Takes no options."""

    def finalize_options(self) -> None:
        """Takes no options."""

    def run(self) -> None:
        """Generates users/v1 beside protos/."""
        generate_stubs(ROOT)


setup(cmdclass={"build_py": BuildWithStubs, "sdist": SdistWithStubs, "stubs": Stubs})
