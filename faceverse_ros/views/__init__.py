"""Views: what a person looks at, computed from tracking results.

Owns overlay drawing and the debug-view builder, the meshes of tracked faces with their
cache per face id (mesh_builder.py; the view builder hands its full-resolution one to the
pipeline for the meshes the command line saves), the Sim3DR render binding,
mesh decimation, the landmark-only face mesh in metres (landmark_mesh.py) and the
file exporters (PLY/OBJ, parameter files).
May import: core, landmarks. Never tracking, io or ros (results are read by attribute).
"""
