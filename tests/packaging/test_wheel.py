"""A wheel built from the checkout serves every page from a normal (non-editable) install.

The wheel is built with ``pip wheel`` from a copy of the checkout, installed with ``--target``
into a temporary folder and run by a separate Python without ``site`` (so neither the checkout
nor the editable install is on ``sys.path``; third-party packages come from this venv's
site-packages), from an empty working directory, in demo mode: a small demo build, an index
rebuild, then the public app and the admin app answer with the packaged templates and static
files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# Left out of the copy: at the top of the checkout, what is not source; everywhere, caches.
TOP_LEVEL_EXTRAS = {".git", ".venv", "data", "build", "dist", "artifacts", "tests", "loadtests", ".env",
                    ".pytest_cache"}
CACHES = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")


def _not_shipped(folder: str, names: list[str]) -> set[str]:
    extras = TOP_LEVEL_EXTRAS if Path(folder) == ROOT else set()
    return set(CACHES(folder, names)) | (extras & set(names))

SCRIPT = textwrap.dedent("""
    import importlib
    import sys
    from pathlib import Path

    site = Path(sys.argv[1]).resolve()
    checkout = Path(sys.argv[2]).resolve()
    assert not any(Path(p or ".").resolve() == checkout for p in sys.path), sys.path
    for name in ("core", "search", "portal", "bot", "indexer", "admin", "demo", "cli"):
        module = importlib.import_module(name)
        assert Path(module.__file__).resolve().is_relative_to(site), (name, module.__file__)

    from starlette.testclient import TestClient

    from cli import main
    from cli.apps import admin_app, public_app
    from core import migrate
    from core.config import load_config

    assert main(["demo", "--lines", "300", "--seed", "7"]) == 0
    assert main(["index", "rebuild", "--quiet"]) == 0
    config = load_config()
    assert config.demo
    migrate.upgrade(config.public_database_url, "public")

    def get(client, path, *needles):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
        for needle in needles:
            assert needle in response.text, (path, needle)
        print(path, response.status_code)
        return response

    with TestClient(public_app(config)) as client:
        get(client, "/", "演示数据", "演示用查询人员", "/static/css/portal.css")
        get(client, "/kiosk", "模拟刷身份证", "/static/kiosk/kiosk.js")
        assert get(client, "/disclosures.json").json()["total"] > 0
        get(client, "/static/css/portal.css")
        get(client, "/static/kiosk/kiosk.js")
        get(client, "/policies", "政策清单")
    with TestClient(admin_app(config)) as client:
        get(client, "/login", "登录", "demo_clerk", "/static/admin.css")
        get(client, "/static/admin.css")
        get(client, "/demo/roster.xlsx")
    print("served from", site)
""")


def test_a_wheel_serves_every_page_in_demo_mode(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=_not_shipped)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
                            str(source)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("yikatong-*.whl"))
    site = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                                str(wheel)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr[-2000:]
    assert not (site / "tests").exists()

    run = tmp_path / "run"
    run.mkdir()
    third_party = sysconfig.get_paths()["purelib"]  # this venv's packages, without its .pth hooks
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "PYTHONPATH": os.pathsep.join([str(site), third_party]),
        "YIKATONG_DEMO": "1",
        "YIKATONG_DATA_DIR": str(tmp_path / "data"),
    }
    # -S: no site-packages processing, so the editable install of the checkout cannot answer.
    served = subprocess.run([sys.executable, "-S", "-c", SCRIPT, str(site), str(ROOT)], cwd=run, env=env,
                            capture_output=True, text=True, timeout=600)
    assert served.returncode == 0, served.stdout[-2000:] + served.stderr[-4000:]
    for path in ("/ 200", "/kiosk 200", "/disclosures.json 200", "/login 200"):
        assert path in served.stdout
