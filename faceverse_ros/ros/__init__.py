"""ROS 2 layer: the node, its parameters, message conversion, TF, markers and
the camera source node. The only layer that imports rclpy.

May import: every other layer.
"""
