"""FaceVerse core: the model file and its arithmetic, with no ROS and no tracking state.

Owns the asset files and their validation, the coefficient layout, the model
(reconstruction, projection), the ResNet regressor engines, the face crop,
camera intrinsics, rotations, head pose and the landmark fit.
May import: numpy, OpenCV, torch/ONNX Runtime (lazily). Never tracking, views, ros.
"""
