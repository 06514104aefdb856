"""Per-frame cost of blendshapes and of the landmark-only face mesh, in one run.

On the frames of talking_256.mp4 (default; ``--video``), ``--runs`` times;
the detector variants run side by side, each on every frame in a rotating
order (so that a busy machine slows every variant alike):

- ``tasks+blendshapes``: FaceDetector("tasks", blendshapes=True), VIDEO mode;
- ``tasks, no output``: the same bundle with ``output_face_blendshapes`` off;
- ``tasks, no network``: a copy of the bundle without ``face_blendshapes.tflite``
  (written to a temporary folder), so that the graph cannot run the blendshape
  network: the difference to ``tasks+blendshapes`` is the network's cost;
- ``legacy``: the bundled Face Mesh (video mode, tracking), no blendshapes;
- ``mesh render``: landmark-only mesh of the detected face
  (views.face_mesh.landmark_mesh: landmark pose, metric vertices, normals) and
  its Sim3DR render blended onto the frame (views.face_mesh.render_meshes),
  with the .task triangles (898) and with the tesselation's (852).

Printed: median ms per frame of each (first frame of each run left out: model
loading), and the ratios against legacy detection.

    .venv/bin/python bench/bench_face_mesh.py [--runs 3] [--video V] [--task F]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from faceverse_ros.landmarks.canonical_mesh import load_mesh  # noqa: E402
from faceverse_ros.landmarks.landmark_pose import estimate_head_pose  # noqa: E402
from faceverse_ros.io.sources import FrameSource  # noqa: E402
from faceverse_ros.tracking.detector import FaceDetector  # noqa: E402
from faceverse_ros.views.landmark_mesh import landmark_mesh, render_meshes  # noqa: E402

DEFAULT_VIDEO = ROOT.parent / "shared" / "testdata" / "video" / "talking_256.mp4"
DEFAULT_TASK = ROOT.parent / "shared" / "models" / "face_landmarker.task"


def time_detectors(frames, variants):
    """Every variant on every frame, frame by frame in a rotating order (load changes on a
    shared machine then hit all of them alike); the first frame is left out."""
    detectors = {name: FaceDetector(backend, task_path=task, mode="video", blendshapes=shapes)
                 for name, (backend, shapes, task) in variants.items()}
    times = {name: [] for name in variants}
    faces = []
    names = list(variants)
    try:
        for i, frame in enumerate(frames):
            order = names[i % len(names):] + names[:i % len(names)]
            for name in order:
                t = time.perf_counter()
                found = detectors[name].detect(frame.rgb, frame.stamp)
                if i:
                    times[name].append((time.perf_counter() - t) * 1000.0)
                if name == "legacy":
                    faces.append(found[0] if found else None)
    finally:
        for det in detectors.values():
            det.close()
    return times, faces


def without_blendshape_model(task, folder):
    """A copy of the .task zip without face_blendshapes.tflite."""
    out = Path(folder) / "face_landmarker_no_blendshapes.task"
    with zipfile.ZipFile(task) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for item in src.infolist():
            if item.filename != "face_blendshapes.tflite":
                dst.writestr(item, src.read(item.filename))
    return out


def time_render(frames, faces, triangles):
    times = []
    for frame, face in zip(frames, faces):
        if face is None:
            continue
        h, w = frame.rgb.shape[:2]
        cam = (float(w), float(w), (w - 1) / 2.0, (h - 1) / 2.0)
        t = time.perf_counter()
        pose = estimate_head_pose(face.landmarks, cam, eyes=face.eyes)
        mesh = landmark_mesh(face.landmarks, cam, pose, triangles)
        render_meshes(frame.rgb, [mesh], triangles)
        times.append((time.perf_counter() - t) * 1000.0)
    return times


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--video", default=str(DEFAULT_VIDEO))
    ap.add_argument("--task", default=str(DEFAULT_TASK))
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    frames = list(FrameSource(args.video))
    task_tris = load_mesh(args.task).triangles
    tess_tris = load_mesh(None).triangles
    tmp = tempfile.TemporaryDirectory()
    bare = without_blendshape_model(args.task, tmp.name)
    variants = {"tasks+blendshapes": ("tasks", True, args.task),
                "tasks, no output": ("tasks", False, args.task),
                "tasks, no network": ("tasks", False, bare),
                "legacy": ("legacy", False, None)}
    times = {name: [] for name in list(variants) + ["mesh render (task, 898 tri)",
                                                    "mesh render (tesselation, 852 tri)"]}
    for _ in range(args.runs):
        det_times, faces = time_detectors(frames, variants)
        for name, t in det_times.items():
            times[name] += t
        times["mesh render (task, 898 tri)"] += time_render(frames, faces, task_tris)
        times["mesh render (tesselation, 852 tri)"] += time_render(frames, faces, tess_tris)
    med = {name: statistics.median(t) for name, t in times.items()}
    h, w = frames[0].rgb.shape[:2]
    print(f"{args.video}: {len(frames)} frames of {w}x{h}, {args.runs} runs; median ms per frame")
    for name, m in med.items():
        print(f"  {name:36s} {m:7.2f} ms   x{m / med['legacy']:.2f} of legacy detection")
    full, bare = med["tasks+blendshapes"], med["tasks, no network"]
    print(f"  blendshape network: {full - bare:+.2f} ms per face (tasks+blendshapes / tasks "
          f"without the network = {full / bare:.2f}); output off, network in the bundle: "
          f"{med['tasks, no output'] / full:.2f} of tasks+blendshapes")
    tmp.cleanup()


if __name__ == "__main__":
    main()
