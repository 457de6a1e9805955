"""The client and its retrievers import with none of the server's packages: an application installs
`freshness-client` (packaging/client: httpx and msgspec) without Litestar, SQLAlchemy or Qdrant."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Everything the server needs that the client does not (pyproject.toml's dependencies but httpx and msgspec).
SERVER_ONLY = ["litestar", "uvicorn", "sqlalchemy", "alembic", "psycopg", "qdrant_edge", "qdrant_client",
               "apscheduler", "semantic_text_splitter", "pytimeparse2", "isodate", "ulid", "prometheus_client",
               "click", "rich", "bs4", "swagger_ui", "cryptography", "fastembed"]

REFUSING = textwrap.dedent("""
    import importlib.abc, sys
    BLOCKED = set(sys.argv[1].split(","))

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is a server package")
            return None

    sys.meta_path.insert(0, Refuse())
""")


def run_without_server(code: str, *, allow: tuple[str, ...] = (), path: tuple[Path, ...] = (),
                       cwd: Path = ROOT) -> subprocess.CompletedProcess:
    blocked = ",".join(name for name in SERVER_ONLY if name not in allow)
    prelude = "".join(f"sys.path.insert(0, {str(p)!r})\n" for p in path)
    return subprocess.run([sys.executable, "-c", REFUSING + prelude + textwrap.dedent(code), blocked],
                          capture_output=True, text=True, cwd=cwd, timeout=120)


# No module of the server may load either: only the client, the integrations and the wire Structs.
CLIENT_MODULES = """
    import freshness
    allowed = ("freshness.client", "freshness.integrations", "freshness.errors", "freshness.sources.states",
               "freshness.policy.model", "freshness.policy.verdict", "freshness.policy.durations")
    loaded = [m for m in sys.modules if m.startswith("freshness")]
    packages = {m for m in loaded if getattr(sys.modules[m], "__path__", None) is not None}
    server = [m for m in loaded if m not in packages and not m.startswith(allowed) and not m.endswith(".schemas")]
    assert not server, server
    leaked = sorted({m.split(".")[0] for m in sys.modules} & BLOCKED)
    assert not leaked, leaked
    print("client from", freshness.__file__)
"""

CLIENT = """
    from freshness.client import AsyncFreshnessClient, FreshnessClient, InsufficientContext
    from freshness.integrations.langchain import FreshnessRetriever

    with FreshnessClient("http://127.0.0.1:9", "fk_key") as c:
        assert c.base_url == "http://127.0.0.1:9"
"""


LLAMA_INDEX = """
    from freshness.integrations.llama_index import FreshnessRetriever
"""


def test_the_client_and_the_langchain_retriever_import_without_the_server_packages():
    done = run_without_server(textwrap.dedent(CLIENT) + textwrap.dedent(CLIENT_MODULES))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("client from ")


def test_the_llama_index_retriever_needs_no_more_than_llama_index_itself():
    # llama-index-core depends on SQLAlchemy on its own account; nothing else of the server may load.
    done = run_without_server(textwrap.dedent(LLAMA_INDEX) + textwrap.dedent(CLIENT_MODULES), allow=("sqlalchemy",))
    assert done.returncode == 0, done.stderr


def test_the_guard_itself_refuses_a_server_package():
    done = run_without_server("import freshness.app")
    assert done.returncode != 0 and "is a server package" in done.stderr


def test_the_client_distribution_holds_what_the_client_imports_and_nothing_of_the_server(tmp_path):
    # Built from a copy: setuptools leaves build/ and egg-info beside setup.py, and an old build/lib in the
    # checkout could hand this test files the current setup.py no longer picks.
    sources = tmp_path / "src"
    skip = shutil.ignore_patterns("__pycache__", "build", "*.egg-info")
    shutil.copytree(ROOT / "packaging" / "client", sources / "packaging" / "client", ignore=skip)
    shutil.copytree(ROOT / "freshness", sources / "freshness", ignore=skip)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                            str(sources / "packaging" / "client"), "--wheel-dir", str(tmp_path / "wheel")],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "wheel").glob("freshness_client-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "site")
    assert "freshness/client/sync.py" in names and "freshness/integrations/langchain.py" in names
    assert not [n for n in names if n.endswith(("app.py", "endpoints.py", "service.py", "db.py"))]

    # Run from the unpacked wheel alone: the repository's freshness package is hidden behind it.
    done = run_without_server(textwrap.dedent(CLIENT) + textwrap.dedent(CLIENT_MODULES),
                              path=(tmp_path / "site",), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"client from {tmp_path / 'site' / 'freshness' / '__init__.py'}"
