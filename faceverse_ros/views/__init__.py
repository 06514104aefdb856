"""Views: what a person looks at, computed from tracking results.

Owns the Sim3DR render binding, overlay drawing, mesh decimation and the
file exporters (PLY/OBJ, parameter files).
May import: core. Never tracking state, io or ros.
"""
