"""docker/ kept consistent with the README's install and the scripts' defaults (Docker cannot run here).

What is checked: the image installs through scripts/bootstrap.sh only (the README's one install source), with
settings bootstrap.sh reads; the CUDA base image is a build argument; every COPY source exists; the compose
file runs the server on scripts/serve.sh's default port against Orthanc's DICOMweb on scripts/orthanc.sh's
default port, on loopback; the README's hospital section gives the same commands and URL.
"""

from __future__ import annotations

import re
import shlex

import pytest
import yaml

from tests.conftest import REPO_ROOT

DOCKER = REPO_ROOT / "docker"


def _default(script: str, variable: str) -> str:
    """``${VARIABLE:-default}`` of a script."""
    match = re.search(rf"\${{{variable}:-([^}}]+)}}", (REPO_ROOT / script).read_text())
    assert match, f"{script} has no default for {variable}"
    return match.group(1)


def _instructions(path):
    """(instruction, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    return [tuple(line.strip().split(None, 1)) for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_dockerfile_installs_with_bootstrap_only_on_a_cuda_base_argument():
    steps = _instructions(DOCKER / "Dockerfile")
    assert steps[0][0] == "ARG" and steps[0][1].startswith("CUDA_IMAGE=nvidia/cuda:")
    assert ("FROM", "${CUDA_IMAGE}") in steps
    runs = [args for op, args in steps if op == "RUN"]
    boot = [r for r in runs if "scripts/bootstrap.sh" in r]
    assert len(boot) == 1 and "SSB_EXTRAS=app" in boot[0]
    assert not any("pip install" in r for r in runs), "pip lines belong in scripts/bootstrap.sh, the one install source"
    bootstrap = (REPO_ROOT / "scripts" / "bootstrap.sh").read_text()
    for setting in re.findall(r"\b(SSB_[A-Z_]+)=", boot[0]):
        assert f"${{{setting}" in bootstrap, f"bootstrap.sh does not read {setting}"
    assert ("ENTRYPOINT", '["bash", "scripts/serve.sh"]') in steps
    assert any(op == "ENV" and f"SSB_PORT={_default('scripts/serve.sh', 'SSB_PORT')}" in args for op, args in steps)


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.orthanc"])
def test_every_copied_path_exists(dockerfile):
    copies = [shlex.split(args)[:-1] for op, args in _instructions(DOCKER / dockerfile) if op == "COPY"]
    assert copies
    for sources in copies:
        for src in sources:
            assert (REPO_ROOT / src).exists(), f"{dockerfile} copies {src}, which is not in the repository"


def test_bootstrap_is_what_the_readme_installs_by_hand():
    readme = (REPO_ROOT / "README.md").read_text()
    bootstrap = (REPO_ROOT / "scripts" / "bootstrap.sh").read_text()
    assert "scripts/bootstrap.sh` does exactly this" in readme
    assert '.venv/bin/pip install -e ".[app,dev]"' in readme and 'pip install -q -e ".[$EXTRAS]"' in bootstrap
    nodeps = "--no-deps -r requirements/monailabel-nodeps.txt"
    assert nodeps in readme and nodeps in bootstrap


def test_compose_serves_on_the_scripts_defaults_against_orthanc_on_loopback():
    compose = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())["services"]
    orthanc_port = _default("scripts/orthanc.sh", "ORTHANC_PORT")
    serve_port = _default("scripts/serve.sh", "SSB_PORT")
    assert compose["orthanc"]["build"]["dockerfile"] == "docker/Dockerfile.orthanc"
    assert compose["orthanc"]["command"] == [orthanc_port]
    assert f"{serve_port}:{serve_port}" in compose["orthanc"]["ports"]
    ssb = compose["ssb"]
    assert ssb["build"]["dockerfile"] == "docker/Dockerfile" and "CUDA_IMAGE" in ssb["build"]["args"]
    assert ssb["network_mode"] == "service:orthanc"  # loopback shared with Orthanc (it listens on 127.0.0.1 only)
    studies = f"http://127.0.0.1:{orthanc_port}/dicom-web"
    assert ssb["command"] == ["--studies", studies]
    assert ssb["environment"]["SSB_PORT"] == serve_port
    assert ssb["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]


def test_readme_hospital_section_matches_the_files():
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## In a hospital: PACS, OHIF and 3D Slicer", 1)
    assert len(section) == 2, "README.md lacks the section '## In a hospital: PACS, OHIF and 3D Slicer'"
    text = section[1].split("\n## ", 1)[0]
    orthanc_port = _default("scripts/orthanc.sh", "ORTHANC_PORT")
    serve_port = _default("scripts/serve.sh", "SSB_PORT")
    for needle in ("docker compose -f docker/docker-compose.yml up --build", "docker build -f docker/Dockerfile",
                   f"http://127.0.0.1:{orthanc_port}/dicom-web", f":{serve_port}/ohif/", "scripts/orthanc.sh"):
        assert needle in text, f"the hospital section does not mention {needle!r}"
