"""I/O: frame sources (videos, images, folders, webcams).

May import: core (intrinsics), OpenCV, numpy. Never ros.
"""
