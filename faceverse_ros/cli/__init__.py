"""Command line (`faceverse-ros run | node | export-onnx | bench`).

`faceverse-ros bench` is a shipped command (bench.py): it runs from an installed
package, with the SYNTHETIC FaceVerse files (synthetic_assets.py, random fixed-seed
stand-ins with the official structure, never a face model) unless real ones are given.
Tests and scripts/make_synthetic_assets.py import that generator from here; nothing
installed imports from bench/ or test/.
May import: every other layer (ros only for the `node` subcommand, inside it).
"""
