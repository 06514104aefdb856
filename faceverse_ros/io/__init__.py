"""I/O: frames in, results out, without rclpy: frame sources (videos, images, folders,
webcams), rosbag2 bags (reading and writing, through rosbags), image message decoding,
and the fields of our output messages (face_fields.py, face_ids.py) that the bag writer
and the ROS layer both fill their messages from.

May import: core (intrinsics, the coefficient layout), faceverse_ros.paths, OpenCV,
numpy. Never landmarks, tracking, views or ros.
"""
