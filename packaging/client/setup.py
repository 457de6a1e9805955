"""The modules of ../../freshness that the client needs, and no other: the server's stay out of this wheel."""

from setuptools import setup
from setuptools.command.build_py import build_py

# setuptools takes package dirs relative to this file, /-separated.
SOURCE = "../../freshness"

# Each package with the modules the client imports ("*": all of them).
MODULES = {
    "freshness": ["__init__", "errors"],
    "freshness.client": ["*"],
    "freshness.integrations": ["*"],
    "freshness.retrieval": ["__init__", "schemas"],
    "freshness.sources": ["__init__", "schemas", "states"],
    "freshness.audit": ["__init__", "schemas"],
    "freshness.policy": ["__init__", "schemas", "model", "verdict", "durations"],
    "freshness.uploads": ["__init__", "schemas"],
}


class ClientModules(build_py):
    def find_package_modules(self, package, package_dir):
        wanted = MODULES[package]
        return [entry for entry in super().find_package_modules(package, package_dir)
                if "*" in wanted or entry[1] in wanted]


setup(
    packages=list(MODULES),
    package_dir={name: "/".join([SOURCE, *name.split(".")[1:]]) for name in MODULES},
    cmdclass={"build_py": ClientModules},
)
