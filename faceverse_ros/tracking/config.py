"""PipelineConfig and the one mapping from parameter values to it.

The node's parameters (faceverse_ros/ros/params.py: "engine",
"smoother.box.min_cutoff", ...) and the command line's options (which it
turns into the same names) both go through :func:`config_from_params`.
"""
import dataclasses
from typing import Mapping, Optional

from faceverse_ros.tracking.face_smoothing import PARTS as SMOOTHER_PARTS
from faceverse_ros.tracking.keyframes import DEFAULT_DRIFT_PX, DEFAULT_INTERVAL, DEFAULT_MAX_INTERVAL

SMOOTHER_KEYS = ("min_cutoff", "beta", "d_cutoff")

# the allowed ranges of the integer settings that the node's parameters (ros/params.py) and
# the command line's options share, so that both accept the same values
RANGES = {
    "max_faces": (1, 16),
    "threads": (0, 256),
    "keyframe.interval": (1, 1000),
    "keyframe.max_interval": (1, 1000),
}


@dataclasses.dataclass
class PipelineConfig:
    """Everything the pipeline needs (see config_from_params for the parameter names)."""
    model_path: Optional[str] = None        # None: look in data/, landmark-only if absent
    checkpoint_path: Optional[str] = None
    engine: str = "auto"                    # auto (tracking.auto_engine) | torch | onnx
    onnx_path: Optional[str] = None         # an exported .onnx for engine onnx
    device: str = "cpu"
    threads: int = 0                        # 0: runtime.threads.ort_threads() (all cores)
    ort_spinning: bool = False              # ONNX Runtime busy-waits between ops: off, so the
                                            # detection thread gets the core (2-core robots)
    detector: str = "auto"                  # auto (tasks if a .task is found) | tasks | legacy
    task_path: Optional[str] = None
    max_faces: int = 1
    min_detection_confidence: float = 0.5
    birth_frames: int = 1
    max_missed: int = 5
    # SmootherSettings keyword arguments: kind, max_gap_s, and a dict per part
    smoothing: dict = dataclasses.field(default_factory=lambda: {"kind": "one_euro"})
    keyframe_interval: int = DEFAULT_INTERVAL
    keyframe_drift_px: float = DEFAULT_DRIFT_PX
    keyframe_max_interval: int = DEFAULT_MAX_INTERVAL   # late background keyframes stretch the
                                                        # interval up to this (tracking.keyframes)
    stream: bool = True                     # frames of one stream (tracking) vs unrelated stills
    landmark_only: bool = False             # True: do not load the FaceVerse files at all
    fast_update: bool = True                # between keyframes: one linearised solve about the
                                            # last full fit where it holds (core.fast_update)
    keyframe_background: bool = True        # keyframes after a track's first in a thread of their
                                            # own (tracking.keyframe_worker); False: inline,
                                            # reproducible
    # face re-identification (faceverse_ros.identity; off unless asked for): persons across
    # tracks; the gallery file only where the user names one
    identity: bool = False
    identity_threshold: float = 0.4
    identity_margin: float = 0.05
    identity_memory_s: float = 600.0
    identity_gallery_path: Optional[str] = None
    person_id_prefix: str = "p"
    # how messages name a setting: parameter name -> what the user types instead (the command
    # line's options, e.g. "task_path" -> "--task"); a name not here is said as the parameter
    names: dict = dataclasses.field(default_factory=dict)

    def name_of(self, parameter: str) -> str:
        """The setting as the user knows it: the command line's option, else the parameter."""
        return self.names.get(parameter, parameter)


def _path(value):
    return str(value) if value else None


def config_from_params(values: Mapping, stream: bool = True, names: Optional[Mapping] = None) -> PipelineConfig:
    """PipelineConfig from parameter values named as the node's parameters; names
    not given keep PipelineConfig's defaults, unknown names are ignored (they belong to
    the node: publishing, diagnostics, camera). ``names``: PipelineConfig.names."""
    v = dict(values)
    base = PipelineConfig()
    smoothing = {"kind": v.get("smoother.kind", "one_euro")}
    if "smoother.max_gap_s" in v:
        smoothing["max_gap_s"] = float(v["smoother.max_gap_s"])
    for part in SMOOTHER_PARTS:
        given = {k: float(v[f"smoother.{part}.{k}"]) for k in SMOOTHER_KEYS
                 if f"smoother.{part}.{k}" in v}
        if given:
            smoothing[part] = given
    return PipelineConfig(
        model_path=_path(v.get("model_path")), checkpoint_path=_path(v.get("checkpoint_path")),
        engine=v.get("engine", base.engine), onnx_path=_path(v.get("onnx_path")),
        device=v.get("device", base.device), threads=int(v.get("threads", base.threads)),
        detector=v.get("detector", base.detector), task_path=_path(v.get("task_path")),
        max_faces=int(v.get("max_faces", base.max_faces)),
        min_detection_confidence=float(v.get("min_detection_confidence",
                                             base.min_detection_confidence)),
        birth_frames=int(v.get("tracker.birth_frames", base.birth_frames)),
        max_missed=int(v.get("tracker.max_missed", base.max_missed)),
        smoothing=smoothing,
        keyframe_interval=int(v.get("keyframe.interval", base.keyframe_interval)),
        keyframe_drift_px=float(v.get("keyframe.drift_px", base.keyframe_drift_px)),
        keyframe_max_interval=int(v.get("keyframe.max_interval", base.keyframe_max_interval)),
        keyframe_background=bool(v.get("keyframe.background", base.keyframe_background)),
        landmark_only=bool(v.get("landmark_only", base.landmark_only)), stream=stream,
        identity=bool(v.get("identity.enabled", base.identity)),
        identity_threshold=float(v.get("identity.threshold", base.identity_threshold)),
        identity_margin=float(v.get("identity.margin", base.identity_margin)),
        identity_memory_s=float(v.get("identity.memory_s", base.identity_memory_s)),
        identity_gallery_path=_path(v.get("identity.gallery_path")),
        person_id_prefix=str(v.get("person_id_prefix", base.person_id_prefix)),
        names=dict(names or {}))


def smoother_change(name: str, value):
    """A run-time parameter change -> SmootherSettings.set keyword arguments, or None
    when the parameter is not a smoother one."""
    if name == "smoother.kind":
        return {"kind": value}
    if name == "smoother.max_gap_s":
        return {"max_gap_s": float(value)}
    if name.startswith("smoother."):
        _, part, key = name.split(".")
        return {"part": part, key: float(value)}
    return None
