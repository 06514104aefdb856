"""Tracking: from camera frames to per-face results over time.

Owns detection (MediaPipe), face ids, smoothing (single signals and one face's two
stages with the settings all faces share), keyframe scheduling, the face track
(everything per face) and the per-frame pipeline with its configuration.
May import: core, landmarks, runtime, faceverse_ros.paths. Never views, io or ros.
"""
