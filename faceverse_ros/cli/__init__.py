"""Command line (`faceverse-ros run | node | export-onnx | bench`).

May import: every other layer (ros only for the `node` subcommand).
"""
