"""Shared fixtures: where the real data lives, and a tiny network for fast tests."""

from __future__ import annotations

from pathlib import Path

import os

import pytest
import torch

# The tests run small tensors, where torch's intra-op threads cost more than they save, and on a shared
# machine they make the same test 10x slower. SSB_TEST_THREADS=0 keeps torch's default.
if int(os.environ.get("SSB_TEST_THREADS", "1")) > 0:
    torch.set_num_threads(int(os.environ.get("SSB_TEST_THREADS", "1")))

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """Path under ../shared/data; skips the calling test with a reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (../shared/data is not shipped with the repo)")
    return path


@pytest.fixture
def tiny_network_config():
    from ssb_core.network import NetworkConfig

    return NetworkConfig(channels=(8, 16), attention_levels=(False, False), num_res_blocks=1, norm_num_groups=4, num_head_channels=8, num_readers=4)


@pytest.fixture
def random_tiny_network(tiny_network_config):
    """A tiny SSBNetwork with every weight drawn at random (MONAI zero-initialises the output layer)."""
    import torch

    from ssb_core.network import SSBNetwork

    torch.manual_seed(0)
    net = SSBNetwork(tiny_network_config).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.2)
    return net


_FIGURES: list[str] = []


@pytest.fixture
def report_figure():
    """``report_figure("text")``: a measured figure shown in the run's summary ("measured figures")."""
    return _FIGURES.append


def pytest_terminal_summary(terminalreporter):
    if _FIGURES:
        terminalreporter.section("measured figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)
