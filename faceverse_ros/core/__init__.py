"""FaceVerse core: the model file and its arithmetic, with no ROS and no tracking state.

Owns the asset files and their validation, the coefficient layout (layout.py),
the model (reconstruction, projection) and the mesh of a result (face_mesh.py; the
cached per-face builder is views.mesh_builder: per-face state is not core's),
depth images as numbers (depth.py, REP-118), the ResNet regressor engines
(regressor.py) with what they share with the ONNX
graph writer (network.py, onnx_export.py), the face crop, camera intrinsics
(camera.py), rotations (rotations.py), the pose record (pose.py), head pose from
the FaceVerse coefficients, gaze targets (gaze_target.py) and the landmark fit of
the coefficients.
MediaPipe landmark geometry lives in landmarks/, where files live in
faceverse_ros.paths, the process thread plan in runtime/.
May import: faceverse_ros.paths, numpy, OpenCV, torch/ONNX Runtime (lazily).
Never landmarks, tracking, runtime, views, io, ros.
"""
