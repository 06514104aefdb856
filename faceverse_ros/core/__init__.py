"""FaceVerse core: the model file and its arithmetic, with no ROS and no tracking state.

Owns the asset files and their validation, the coefficient layout (layout.py),
the model (reconstruction, projection) and the mesh of a result (face_mesh.py),
the ResNet regressor engines, the face crop, camera intrinsics (camera.py),
rotations (rotations.py), the pose record (pose.py), head pose, gaze targets
(gaze_target.py) and the landmark fit.
May import: numpy, OpenCV, torch/ONNX Runtime (lazily). Never tracking, views, ros.
"""
