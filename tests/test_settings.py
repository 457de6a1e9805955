"""What an operator writes in config/freshness.toml and FRESHNESS_* variables, and what the service reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from freshness.errors import ConfigError
from freshness.settings import load_settings, with_overrides

SHIPPED = Path(__file__).resolve().parents[1] / "config" / "freshness.toml"


@pytest.fixture
def config(tmp_path: Path):
    """Write a config file and return its path."""

    def write(text: str) -> Path:
        path = tmp_path / "freshness.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def test_the_shipped_file_gives_the_documented_defaults():
    settings = load_settings({}, config_file=SHIPPED)
    assert settings.data_dir == Path("./var")
    assert settings.vector_store == "edge"
    assert settings.policy_file == Path("config/policy.toml")
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.embedder == "none"
    assert settings.scheduler is True
    assert settings.max_body == 32 * 2**20
    assert settings.db_timeout == 5.0
    assert settings.purge_retention_seconds == 7 * 86_400
    assert settings.sweep_interval_seconds == 300
    assert settings.refresh_max_bytes == 10 * 2**20
    assert settings.file_roots == (Path("examples"),)
    assert settings.fetch_allow == ()


def test_without_a_file_every_setting_has_its_default(tmp_path):
    settings = load_settings({}, config_file=tmp_path / "absent.toml")
    assert settings.file_roots == ()
    assert settings.max_body == 32 * 2**20
    assert settings.qdrant_api_key is None
    assert settings.vector_size is None


def test_the_environment_wins_over_the_file_and_overrides_win_over_both(config):
    path = config('[service]\nport = 9000\nhost = "0.0.0.0"\n')
    settings = load_settings({"FRESHNESS_PORT": "9100"}, config_file=path)
    assert (settings.host, settings.port) == ("0.0.0.0", 9100)
    assert load_settings({"FRESHNESS_PORT": "9100"}, config_file=path, port=9200).port == 9200


def test_freshness_config_names_the_file(config):
    path = config("[service]\nport = 9300\n")
    assert load_settings({"FRESHNESS_CONFIG": str(path)}).port == 9300


@pytest.mark.parametrize(("written", "expected"), [
    ("on", True), ("off", False), ("true", True), ("False", False), ("1", True), ("0", False),
    ("yes", True), ("NO", False),
])
def test_switches_read_the_usual_words(tmp_path, written, expected):
    settings = load_settings({"FRESHNESS_SCHEDULER": written, "FRESHNESS_HASH_QUERY_TEXT": written},
                             config_file=tmp_path / "absent.toml")
    assert settings.scheduler is expected
    assert settings.hash_query_text is expected


@pytest.mark.parametrize(("written", "size"), [("32MiB", 32 * 2**20), ("10MB", 10**7), ("512KiB", 512 * 2**10),
                                               ("1048576", 2**20), ("2 GiB", 2 * 2**30)])
def test_sizes_read_with_their_units(tmp_path, written, size):
    settings = load_settings({"FRESHNESS_MAX_BODY": written, "FRESHNESS_REFRESH_MAX_BYTES": written},
                             config_file=tmp_path / "absent.toml")
    assert settings.max_body == size
    assert settings.refresh_max_bytes == size


@pytest.mark.parametrize(("written", "seconds"), [("7d", 7 * 86_400), ("10m", 600), ("PT1H", 3_600), ("45", 45)])
def test_durations_in_seconds_read_as_durations_or_numbers(tmp_path, written, seconds):
    settings = load_settings({"FRESHNESS_PURGE_RETENTION_SECONDS": written, "FRESHNESS_JOB_LEASE_SECONDS": written},
                             config_file=tmp_path / "absent.toml")
    assert settings.purge_retention_seconds == seconds
    assert settings.job_lease_seconds == seconds


def test_the_file_writes_durations_sizes_and_lists_as_toml_values(config, tmp_path):
    path = config('[jobs]\nsweep_interval_seconds = "2h"\nrefresh_check_seconds = 7\nrefresh_max_bytes = "1MiB"\n'
                  f'[sources]\nfile_roots = ["{tmp_path}/docs", "  "]\nfetch_allow = ["10.0.0.0/8", "intranet"]\n')
    settings = load_settings({}, config_file=path)
    assert settings.sweep_interval_seconds == 7_200
    assert settings.refresh_check_seconds == 7
    assert settings.refresh_max_bytes == 2**20
    assert settings.file_roots == (tmp_path / "docs",)
    assert settings.fetch_allow == ("10.0.0.0/8", "intranet")


def test_lists_in_the_environment_are_comma_separated(tmp_path):
    settings = load_settings({"FRESHNESS_FETCH_ALLOW": "10.0.0.0/8, intranet,,", "FRESHNESS_DATA_DIR": "/srv/data"},
                             config_file=tmp_path / "absent.toml")
    assert settings.fetch_allow == ("10.0.0.0/8", "intranet")
    assert settings.data_dir == Path("/srv/data")


def test_an_empty_variable_leaves_the_file_value(config):
    path = config("[store]\nvector_size = 384\n[service]\nport = 9000\n")
    settings = load_settings({"FRESHNESS_VECTOR_SIZE": "", "FRESHNESS_PORT": ""}, config_file=path)
    assert (settings.vector_size, settings.port) == (384, 9000)


@pytest.mark.parametrize(("variable", "written"), [
    ("FRESHNESS_PORT", "eighty"),
    ("FRESHNESS_SCHEDULER", "maybe"),
    ("FRESHNESS_MAX_BODY", "lots"),
    ("FRESHNESS_MAX_BODY", "32 parsecs"),
    ("FRESHNESS_SWEEP_INTERVAL_SECONDS", "soon"),
    ("FRESHNESS_PURGE_RETENTION_SECONDS", "P1M"),
    ("FRESHNESS_DB_TIMEOUT", "-1"),
    ("FRESHNESS_REFRESH_CHECK_SECONDS", "-5"),
    ("FRESHNESS_VECTOR_SIZE", "big"),
])
def test_a_value_that_does_not_read_is_refused_naming_the_setting(tmp_path, variable, written):
    name = variable.removeprefix("FRESHNESS_").lower()
    with pytest.raises(ConfigError, match=f"^setting {name}: "):
        load_settings({variable: written}, config_file=tmp_path / "absent.toml")


def test_a_file_value_of_the_wrong_kind_is_refused_naming_the_setting(config):
    with pytest.raises(ConfigError, match="^setting scheduler: "):
        load_settings({}, config_file=config('[service]\nscheduler = "sometimes"\n'))
    with pytest.raises(ConfigError, match="^setting port: "):
        load_settings({}, config_file=config('[service]\nport = "eighty"\n'))
    with pytest.raises(ConfigError, match="^setting max_body: "):
        load_settings({}, config_file=config("[ingest]\nmax_body = 1.5\n"))
    with pytest.raises(ConfigError, match="^setting sweep_interval_seconds: "):
        load_settings({}, config_file=config("[jobs]\nsweep_interval_seconds = -5\n"))


def test_an_unknown_key_in_the_file_is_refused(config):
    with pytest.raises(ConfigError, match="unknown setting 'prot'"):
        load_settings({}, config_file=config("[service]\nprot = 8000\n"))


def test_a_file_that_is_not_toml_is_refused_naming_it(config):
    path = config("[service\nport = 8000\n")
    with pytest.raises(ConfigError, match=str(path)):
        load_settings({}, config_file=path)


def test_an_overlap_as_long_as_the_chunk_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="chunk_overlap"):
        load_settings({"FRESHNESS_CHUNK_SIZE": "100", "FRESHNESS_CHUNK_OVERLAP": "100"},
                      config_file=tmp_path / "absent.toml")


def test_overrides_make_a_changed_copy(tmp_path):
    settings = load_settings({}, config_file=tmp_path / "absent.toml")
    changed = with_overrides(settings, scheduler=False)
    assert (settings.scheduler, changed.scheduler) == (True, False)
