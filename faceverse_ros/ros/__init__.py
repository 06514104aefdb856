"""ROS 2 layer: the node, its parameters, message conversion, TF, markers, the REP-155
(ROS4HRI) topics and the camera source node. The only layer that imports rclpy.

A few modules here import no rclpy but exist only for ROS: parameter declarations and
checks (params.py, param_check.py), CameraInfo filtering (camera_info.py), CDR bytes
of messages (cdr.py), and the REP-155 contents (hri_facs.py, hri_images.py,
hri_landmarks.py), which take their landmark indices from faceverse_ros.landmarks.
May import: every other layer.
"""
