"""Views: what a person looks at, computed from tracking results.

Owns overlay drawing and the debug-view builder, the Sim3DR render binding,
mesh decimation, the landmark-only face mesh in metres (landmark_mesh.py) and the
file exporters (PLY/OBJ, parameter files).
May import: core, landmarks. Never tracking, io or ros (results are read by attribute).
"""
