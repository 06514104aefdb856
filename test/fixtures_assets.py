"""Session fixtures with SYNTHETIC FaceVerse V4 assets (see synthetic).

Registered as a plugin by ``test/conftest.py`` (``pytest_plugins = ["fixtures_assets"]``),
so every test can request these fixtures by name.

The files are cached under ``<cache_root>/synthetic/`` (faceverse_ros.paths) (first use: ~10 s). Their
contents are random: tests may check formats and arithmetic with them, never
face accuracy.
"""
import pytest


@pytest.fixture(scope="session")
def synthetic_assets():
    """``SyntheticAssets(model_path, checkpoint_path)`` of the cached synthetic files."""
    from faceverse_ros.cli.synthetic_assets import synthetic_assets as make

    return make()


@pytest.fixture(scope="session")
def synthetic_model(synthetic_assets):
    """A :class:`faceverse_ros.core.model.FaceVerseModel` loaded from the synthetic model file."""
    from faceverse_ros.core.model import FaceVerseModel

    return FaceVerseModel.from_file(synthetic_assets.model_path)


@pytest.fixture(scope="session")
def synthetic_model_dict(synthetic_assets):
    """The synthetic model dict as stored in the file (do not modify: copy what you change)."""
    import numpy as np

    return np.load(synthetic_assets.model_path, allow_pickle=True).item()


@pytest.fixture(scope="session")
def synthetic_state_dict(synthetic_assets):
    """The synthetic ReconNet state_dict (torch tensors; do not modify)."""
    import torch

    return torch.load(synthetic_assets.checkpoint_path, map_location="cpu", weights_only=True)


@pytest.fixture(scope="session")
def standin_assets():
    """``StandinAssets(model_path, checkpoint_path)`` of the cached STAND-IN files
    (faceverse_ros/cli/standin_assets.py): a face-shaped model and a network with one fixed
    output, for behaviour on a face."""
    from helpers import shared_path
    from faceverse_ros.cli.standin_assets import standin_assets as make

    return make(task_path=shared_path("models/face_landmarker.task"))
