"""Landmarks: MediaPipe face-landmark geometry, with no FaceVerse model and no tracking state.

Owns the one table of landmark index sets (indices.py: eyes, irises, midline, mirror
pairs, lips, the 70 ROS4HRI points), face boxes from landmarks (boxes.py), the eye
values measured from the irises (eyes.py), the head pose and gaze from the 478
landmarks alone (landmark_pose.py), a face's metric depth read from a registered depth
image at its landmarks (landmark_depth.py), MediaPipe's canonical face mesh read from the
.task bundle (canonical_mesh.py) and the 52 blendshape names (blendshapes.py).
May import: core (intrinsics, the pose record, rotations), numpy, OpenCV, mediapipe
(lazily). Never tracking, runtime, views, io or ros.
"""
