"""Tracking: from camera frames to per-face results over time.

Owns detection (MediaPipe), eye values, face ids, smoothing, keyframe
scheduling and the per-frame pipeline.
May import: core, runtime. Never views (except through the pipeline's optional
debug drawing hooks), io or ros.
"""
