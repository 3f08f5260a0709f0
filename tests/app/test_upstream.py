"""The MONAI Label version check: the server refuses to start on a MONAI Label it was not written for."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.app._server import APP_DIR, REPO_ROOT, free_port, write_tiny_checkpoint

if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))

from lib.upstream import RELIANCES, SUPPORTED, UnsupportedUpstream, check_versions  # noqa: E402


def test_the_installed_monailabel_is_a_supported_one():
    assert check_versions(allow_untested=False)["monailabel"] in SUPPORTED["monailabel"]


def test_every_reliance_names_app_code_and_tests_that_exist():
    """The table stays true: each reliance's place in the app and the tests that fail when upstream changes exist."""
    for what, where, tests in RELIANCES:
        for path in where.split(","):
            assert (APP_DIR / path.split("(")[0].strip()).is_file(), (what, path)
        for test in tests.split(","):
            assert (REPO_ROOT / test.strip()).is_file(), (what, test)


def test_another_version_is_refused_naming_the_supported_ones_unless_allowed(caplog):
    with pytest.raises(UnsupportedUpstream, match=r"monailabel 0\.9\.0 \(supported: 0\.8\.5\)"):
        check_versions({"monailabel": "0.9.0"}, allow_untested=False)
    assert check_versions({"monailabel": "0.9.0"}, allow_untested=True) == {"monailabel": "0.9.0"}
    assert "untested upstream version" in caplog.text


@pytest.mark.slow
def test_the_server_does_not_start_on_another_monailabel(tmp_path):
    """A real ``monailabel start_server`` in which the installed MONAI Label reports another version."""
    model = write_tiny_checkpoint(tmp_path / "tiny.pt")
    (tmp_path / "studies").mkdir()
    start = textwrap.dedent(f"""
        import importlib.metadata as metadata, runpy, sys
        real = metadata.version
        metadata.version = lambda name: "0.9.0" if name == "monailabel" else real(name)
        sys.argv = ["monailabel", "start_server", "--app", {str(APP_DIR)!r}, "--studies", {str(tmp_path / 'studies')!r},
                    "--conf", "model_path", {str(model)!r}, "--host", "127.0.0.1", "--port", "{free_port()}"]
        runpy.run_module("monailabel.main", run_name="__main__")
    """)
    run = subprocess.run([sys.executable, "-c", start], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    out = run.stdout + run.stderr
    assert "monailabel 0.9.0 (supported: 0.8.5)" in out, out[-3000:]
    assert run.returncode != 0  # the server stopped instead of serving
