"""Views: what a person looks at, computed from tracking results.

Owns overlay drawing and the debug-view builder, the Sim3DR render binding,
mesh decimation and the file exporters (PLY/OBJ, parameter files).
May import: core. Never tracking, io or ros (results are read by attribute).
"""
