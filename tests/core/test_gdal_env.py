"""Importing the engine leaves the process environment alone; GDAL settings are scoped to the engine's work."""

import json
import os
import subprocess
import sys
from pathlib import Path

import rasterio
from rasterio.env import get_gdal_config

import contrastdm
from contrastdm.io import gdal_env

ROOT = Path(__file__).resolve().parents[2]

ENV_PROBE = """
import json, os
before = dict(os.environ)
import contrastdm, contrastdm.cli
after = dict(os.environ)
print(json.dumps({"added": sorted(set(after) - set(before)), "removed": sorted(set(before) - set(after)),
                  "changed": sorted(k for k in set(before) & set(after) if before[k] != after[k])}))
"""

CACHE_PROBE = """
import json
import rasterio
from rasterio.env import get_gdal_config
from contrastdm.io.gdal_env import gdal_settings
with gdal_settings():
    inside = get_gdal_config("GDAL_CACHEMAX")
print(json.dumps({"inside": inside}))
"""


def _python(code: str, **env_changes) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PROJ_DATA", "PROJ_LIB", "GDAL_CACHEMAX")}
    env.update(PYTHONPATH=str(ROOT / "core"), **env_changes)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_importing_contrastdm_leaves_os_environ_unchanged():
    # Neither PROJ_DATA nor GDAL_CACHEMAX set: the two variables the package used to set on import.
    assert _python(ENV_PROBE) == {"added": [], "removed": [], "changed": []}


def test_engine_cache_limit_is_scoped_and_in_bytes(monkeypatch):
    monkeypatch.delenv("GDAL_CACHEMAX", raising=False)
    before, environ = get_gdal_config("GDAL_CACHEMAX"), dict(os.environ)
    with gdal_env.gdal_settings():
        assert get_gdal_config("GDAL_CACHEMAX") == gdal_env.CACHE_MAX_BYTES == 128 * 2**20
    assert get_gdal_config("GDAL_CACHEMAX") == before and dict(os.environ) == environ


def test_users_cache_setting_wins():
    # GDAL reads a small GDAL_CACHEMAX as megabytes.
    assert _python(CACHE_PROBE, GDAL_CACHEMAX="8")["inside"] == 8 * 2**20
    with rasterio.Env(GDAL_CACHEMAX=16 * 2**20), gdal_env.gdal_settings():
        assert get_gdal_config("GDAL_CACHEMAX") == 16 * 2**20


def test_the_api_runs_under_the_engine_settings():
    @gdal_env.with_gdal_settings
    def probe():
        return get_gdal_config("GDAL_CACHEMAX")

    if not os.environ.get("GDAL_CACHEMAX"):
        assert probe() == gdal_env.CACHE_MAX_BYTES
    # The API functions are wrapped, not replaced: same name, documentation and signature.
    for name in ("train", "classify", "evaluate", "run"):
        function = getattr(contrastdm, name)
        assert function.__wrapped__.__name__ == function.__name__ == name and function.__doc__


def test_proj_data_fallback_only_fills_a_gap(tmp_path):
    environ = {}
    gdal_env.use_system_proj_data(environ)
    if os.path.exists(os.path.join(gdal_env.SYSTEM_PROJ_DATA, "proj.db")):
        assert environ == {"PROJ_DATA": gdal_env.SYSTEM_PROJ_DATA}
    for given in ({"PROJ_DATA": str(tmp_path)}, {"PROJ_LIB": str(tmp_path)}):
        environ = dict(given)
        gdal_env.use_system_proj_data(environ)
        assert environ == given


def test_the_cli_process_sets_the_proj_fallback(tmp_path):
    code = ("import json, os\nfrom contrastdm.cli import main\n"
            f"main(['info', '--model', {str(tmp_path / 'missing.safetensors')!r}, '--progress', 'none'])\n"
            "print(json.dumps({'PROJ_DATA': os.environ.get('PROJ_DATA')}))")
    expected = gdal_env.SYSTEM_PROJ_DATA if os.path.exists(
        os.path.join(gdal_env.SYSTEM_PROJ_DATA, "proj.db")) else None
    assert _python(code) == {"PROJ_DATA": expected}
