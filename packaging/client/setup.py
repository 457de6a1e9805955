"""The modules of ../../freshness that the client needs, and no other: the server's stay out of this wheel."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

# setuptools takes package dirs relative to this file, /-separated.
SOURCE = "../../freshness"

# Each package with the modules the client imports ("*": all of them). The wire Structs of every area
# (`<area>/schemas.py`, msgspec only) come too, so an area the client learns to call needs no change here.
MODULES = {
    "freshness": ["__init__", "errors"],
    "freshness.client": ["*"],
    "freshness.integrations": ["*"],
    "freshness.policy": ["__init__", "schemas", "model", "verdict", "durations"],
    "freshness.sources": ["__init__", "schemas", "states"],
}
for schemas in sorted(Path(__file__).parent.joinpath(SOURCE).glob("*/schemas.py")):
    MODULES.setdefault(f"freshness.{schemas.parent.name}", ["__init__", "schemas"])


class ClientModules(build_py):
    def find_package_modules(self, package: str, package_dir: str) -> list[tuple[str, str, str]]:
        wanted = MODULES[package]
        return [entry for entry in super().find_package_modules(package, package_dir)
                if "*" in wanted or entry[1] in wanted]


setup(
    packages=list(MODULES),
    package_dir={name: "/".join([SOURCE, *name.split(".")[1:]]) for name in MODULES},
    cmdclass={"build_py": ClientModules},
)
