"""Every bad-asset case gives one clear AssetError naming the file, the problem and
where to get the right file (SYNTHETIC assets stand in for the real ones)."""

import numpy as np
import pytest
import torch

from faceverse_ros.core import assets
from faceverse_ros.core.assets import AssetError, FaceVerseError, load_model_dict, validate_model_dict
from faceverse_ros.core.checkpoint import load_checkpoint, reconnet_state_shapes, validate_state_dict
from faceverse_ros.core.model import FaceVerseModel
from faceverse_ros.core.regressor import ReconNet, Regressor


def check_message(err, filename, *words):
    text = str(err.value)
    assert isinstance(err.value, FaceVerseError)
    assert filename in text, text
    assert "data/README.md" in text and "1drv.ms" in text, text
    for w in words:
        assert w in text, f"{w!r} not in {text!r}"


# ----------------------------------------------------------------------------- model file
def test_missing_model_file(tmp_path):
    with pytest.raises(AssetError) as err:
        FaceVerseModel.from_file(tmp_path / "faceverse_v4_2.npy")
    check_message(err, "faceverse_v4_2.npy", "not found")


def test_missing_model_in_search_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FACEVERSE_DATA", raising=False)
    with pytest.raises(AssetError) as err:
        assets.find_model_file()
    check_message(err, "faceverse_v4_2.npy", "not found", str(tmp_path / "data"))


def test_model_found_in_data_env(tmp_path, monkeypatch, synthetic_assets):
    (tmp_path / "faceverse_v4_2.npy").symlink_to(synthetic_assets.model_path)
    monkeypatch.setenv("FACEVERSE_DATA", str(tmp_path))
    assert assets.find_model_file() == tmp_path / "faceverse_v4_2.npy"


def test_truncated_model_file(tmp_path, synthetic_assets):
    p = tmp_path / "faceverse_v4_2.npy"
    with open(synthetic_assets.model_path, "rb") as f:
        p.write_bytes(f.read(1 << 20))
    with pytest.raises(AssetError) as err:
        FaceVerseModel.from_file(p)
    check_message(err, "faceverse_v4_2.npy", "truncated or corrupt")


def test_empty_and_garbage_model_files(tmp_path):
    p = tmp_path / "faceverse_v4_2.npy"
    p.write_bytes(b"")
    with pytest.raises(AssetError) as err:
        FaceVerseModel.from_file(p)
    check_message(err, "faceverse_v4_2.npy", "empty")
    p.write_bytes(b"this is not numpy" * 10)
    with pytest.raises(AssetError) as err:
        FaceVerseModel.from_file(p)
    check_message(err, "faceverse_v4_2.npy", "truncated or corrupt")


@pytest.mark.parametrize("payload, words", [
    (np.zeros((3, 4), np.float32), "array of shape (3, 4)"),
    (np.array([1, 2, 3], dtype=object), "array of shape (3,)"),
    ([1, 2, 3], "array"),
    ("a string", "str"),
])
def test_wrong_pickle_type(tmp_path, payload, words):
    p = tmp_path / "faceverse_v4_2.npy"
    np.save(p, payload, allow_pickle=True)
    with pytest.raises(AssetError) as err:
        load_model_dict(p)
    check_message(err, "faceverse_v4_2.npy", words, "not the pickled model dict")


def test_missing_key_in_file(tmp_path, synthetic_model_dict):
    small = {k: v for k, v in synthetic_model_dict.items() if k in ("meanshape", "tri")}
    p = tmp_path / "faceverse_v4_2.npy"
    np.save(p, small, allow_pickle=True)
    with pytest.raises(AssetError) as err:
        FaceVerseModel.from_file(p)
    check_message(err, "faceverse_v4_2.npy", "missing key", "idBase")


def mutated(d, **changes):
    out = dict(d)
    out.update(changes)
    return out


def bad_cases(d):
    n = d["meanshape"].shape[0]
    t = d["tri"].shape[0]
    tri_bad = d["tri"].copy()
    tri_bad[7, 1] = n
    pb_bad = d["point_buf"].copy()
    pb_bad[3, 0] = t + 5
    kmp_bad = d["keypoints_mediapipe"].copy()
    kmp_bad[100] = n + 1
    vi_bad = d["ver_inds"].copy()
    vi_bad[-1] = n - 1
    vi_order = d["ver_inds"].copy()
    vi_order[[1, 2]] = vi_order[[2, 1]]
    return [
        ("idBase", mutated(d, idBase=d["idBase"][:-3]), "key 'idBase' has shape"),
        ("meantex", mutated(d, meantex=d["meantex"][:, :2]), "key 'meantex' has shape"),
        ("meanshape dtype", mutated(d, meanshape=d["meanshape"].astype(str)), "must be numeric"),
        ("tri range", mutated(d, tri=tri_bad), f"outside [0, {n})"),
        ("tri float", mutated(d, tri=d["tri"] + 0.5), "integer indices"),
        ("point_buf range", mutated(d, point_buf=pb_bad), f"outside [0, {t})"),
        ("point_buf rows", mutated(d, point_buf=d["point_buf"][:-1]), "key 'point_buf' has shape"),
        ("keypoints_mediapipe range", mutated(d, keypoints_mediapipe=kmp_bad), "keypoints_mediapipe"),
        ("keypoints_mediapipe size", mutated(d, keypoints_mediapipe=d["keypoints_mediapipe"][:468]), "(478,)"),
        ("ver_inds last", mutated(d, ver_inds=vi_bad), "ends at"),
        ("ver_inds order", mutated(d, ver_inds=vi_order), "strictly increasing"),
        ("ver_inds short", mutated(d, ver_inds=d["ver_inds"][3:]), "at least 6"),
        ("tri_inds last", mutated(d, tri_inds=d["tri_inds"][:-1]), "tri_inds"),
        ("parsing", mutated(d, parsing={"hair": d["parsing"]["skin"]}), "'skin'"),
        ("face_mask", mutated(d, face_mask=d["face_mask"][:10]), "face_mask"),
        ("name list", mutated(d, keypoints_name_list={"out_17": [0, 999]}), "keypoints_name_list"),
        ("nan", mutated(d, meanshape=np.where(np.arange(n)[:, None] == 5, np.nan, d["meanshape"])), "NaN"),
    ]


def test_each_bad_model_dict_is_named(synthetic_model_dict):
    validate_model_dict(synthetic_model_dict)  # the good one passes
    for label, d, words in bad_cases(synthetic_model_dict):
        with pytest.raises(AssetError) as err:
            validate_model_dict(d, "faceverse_v4_2.npy")
        check_message(err, "faceverse_v4_2.npy", words)


def test_too_few_vertices(synthetic_model_dict):
    d = synthetic_model_dict
    n = 19000
    small = mutated(d, meanshape=d["meanshape"][:n], idBase=d["idBase"][:3 * n], exBase=d["exBase"][:3 * n],
                    texBase=d["texBase"][:3 * n], meantex=d["meantex"][:n])
    with pytest.raises(AssetError) as err:
        validate_model_dict(small, "faceverse_v4_2.npy")
    check_message(err, "faceverse_v4_2.npy", "19000 vertices", "19497")


# ----------------------------------------------------------------------------- checkpoint
def test_state_dict_layout_matches_the_network():
    net = ReconNet()
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert shapes == reconnet_state_shapes()
    assert "backbone.layer1.0.downsample.0.weight" in shapes and "backbone.fc.weight" not in shapes
    assert shapes["final_layers.2.weight"] == (251, 2048, 1, 1)
    assert len([k for k in shapes if k.endswith("conv2.weight")]) == 16


def test_missing_checkpoint(tmp_path):
    with pytest.raises(AssetError) as err:
        Regressor(tmp_path / "faceverse_resnet50.pth")
    check_message(err, "faceverse_resnet50.pth", "not found")


def test_corrupt_and_truncated_checkpoint(tmp_path, synthetic_assets):
    p = tmp_path / "faceverse_resnet50.pth"
    p.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(AssetError) as err:
        load_checkpoint(p)
    check_message(err, "faceverse_resnet50.pth", "truncated, corrupt")
    with open(synthetic_assets.checkpoint_path, "rb") as f:
        p.write_bytes(f.read(1 << 20))
    with pytest.raises(AssetError) as err:
        Regressor(p)
    check_message(err, "faceverse_resnet50.pth", "truncated, corrupt")


def test_checkpoint_of_another_network(tmp_path):
    other = {"conv1.weight": torch.zeros(64, 3, 7, 7), "bn1.weight": torch.ones(64),
             "fc.weight": torch.zeros(1000, 2048), "fc.bias": torch.zeros(1000)}
    p = tmp_path / "faceverse_resnet50.pth"
    torch.save(other, p)
    with pytest.raises(AssetError) as err:
        load_checkpoint(p)
    check_message(err, "faceverse_resnet50.pth", "not a FaceVerse ReconNet checkpoint", "fc.weight")
    torch.save({"epoch": 3, "lr": 0.1}, p)
    with pytest.raises(AssetError) as err:
        load_checkpoint(p)
    check_message(err, "faceverse_resnet50.pth", "not of tensors")
    torch.save([torch.zeros(3)], p)
    with pytest.raises(AssetError) as err:
        load_checkpoint(p)
    check_message(err, "faceverse_resnet50.pth", "not a state_dict")


def test_wrong_head_size_and_missing_key(synthetic_state_dict, synthetic_assets):
    sd = dict(synthetic_state_dict)
    sd["final_layers.1.weight"] = torch.zeros(100, 2048, 1, 1)
    sd["final_layers.1.bias"] = torch.zeros(100)
    with pytest.raises(AssetError) as err:
        validate_state_dict(sd, "faceverse_resnet50.pth", (156, 177, 251, 27, 3, 2, 1, 4))
    check_message(err, "faceverse_resnet50.pth", "head 'exp' has 100 outputs", "177")
    # the model file decides the sizes: the real checkpoint against a model with other bases
    with pytest.raises(AssetError) as err:
        load_checkpoint(synthetic_assets.checkpoint_path, (156, 170, 251, 27, 3, 2, 1, 4))
    check_message(err, "faceverse_resnet50_synthetic.pth", "head 'exp' has 177 outputs", "170")
    sd = dict(synthetic_state_dict)
    del sd["backbone.layer3.2.bn2.running_var"]
    with pytest.raises(AssetError) as err:
        validate_state_dict(sd, "faceverse_resnet50.pth")
    check_message(err, "faceverse_resnet50.pth", "missing key", "layer3.2.bn2.running_var")
    sd = dict(synthetic_state_dict)
    sd["backbone.layer2.0.conv2.weight"] = torch.zeros(128, 128, 5, 5)
    with pytest.raises(AssetError) as err:
        validate_state_dict(sd, "faceverse_resnet50.pth")
    check_message(err, "faceverse_resnet50.pth", "layer2.0.conv2.weight", "(128, 128, 3, 3)")
    sd = dict(synthetic_state_dict)
    del sd["final_layers.7.weight"], sd["final_layers.7.bias"]
    with pytest.raises(AssetError) as err:
        validate_state_dict(sd, "faceverse_resnet50.pth")
    check_message(err, "faceverse_resnet50.pth", "7 output heads")


def test_wrapped_checkpoint_is_accepted(tmp_path, synthetic_state_dict):
    p = tmp_path / "wrapped.pth"
    torch.save({"net_recon": {"module." + k: v for k, v in synthetic_state_dict.items()}}, p)
    sd, _ = load_checkpoint(p)
    assert set(sd) == set(reconnet_state_shapes())


def test_model_found_in_a_ros_install_share_directory(tmp_path, monkeypatch):
    """A colcon-installed package finds data/ files installed to share/faceverse_ros/data."""
    pytest.importorskip("ament_index_python", reason="needs a ROS prefix")
    from faceverse_ros.core import assets

    prefix = tmp_path / "install"
    (prefix / "share" / "ament_index" / "resource_index" / "packages").mkdir(parents=True)
    (prefix / "share" / "ament_index" / "resource_index" / "packages" / "faceverse_ros").write_text("")
    data = prefix / "share" / "faceverse_ros" / "data"
    data.mkdir(parents=True)
    (data / "faceverse_v4_2.npy").write_bytes(b"placeholder")
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(prefix))
    monkeypatch.delenv("FACEVERSE_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    assert assets.find_model_file() == data / "faceverse_v4_2.npy"


def test_data_and_cache_paths_do_not_depend_on_the_install_location(tmp_path, monkeypatch):
    """Data: $FACEVERSE_DATA, ./data, the ROS share folder; caches: $FACEVERSE_CACHE, else
    $XDG_CACHE_HOME/faceverse_ros: never a folder derived from the package's own files."""
    from faceverse_ros import paths

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FACEVERSE_DATA", raising=False)
    monkeypatch.delenv("FACEVERSE_CACHE", raising=False)
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path / "no_ros"))
    assert paths.data_dirs() == [tmp_path / "data"]
    monkeypatch.setenv("FACEVERSE_DATA", str(tmp_path / "mine"))
    assert paths.data_dirs() == [tmp_path / "mine", tmp_path / "data"]
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert paths.cache_root() == tmp_path / "xdg" / "faceverse_ros"
    monkeypatch.setenv("FACEVERSE_CACHE", str(tmp_path / "c"))
    assert paths.cache_root() == tmp_path / "c"
