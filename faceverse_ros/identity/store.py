"""The gallery file: the enrolled persons, only where the user names a file.

Format: JSON, ``{"format": FORMAT, "version": VERSION, "persons": [...]}`` with per person
``id``, ``name``, ``samples``, ``embedding`` (128 numbers: the running mean dlib
descriptor) and, when known, ``model`` (identity.person_model: the person's aggregated
FaceVerse identity and albedo coefficients). Only enrolled (named) persons are written:
the persons the gallery makes up from faces it sees live in memory only.

Writing is atomic: a temporary file in the same folder, created owner-only (0600),
written, flushed and fsync'ed, then renamed over the file, and the folder fsync'ed; a
crash leaves either the old file or the new one. Reading refuses (one line,
:class:`GalleryFileError`) a file that is not JSON, not of this format, of another
version, or unreadable; the caller then runs without it and must not write over it.
"""
import json
import os
import tempfile
from pathlib import Path
from typing import List

import numpy as np

from faceverse_ros.identity.gallery import Person

FORMAT = "faceverse_ros.identity.gallery"
VERSION = 1
FILE_MODE = 0o600


class GalleryFileError(Exception):
    """A gallery file that cannot be read or written (one line)."""


def read_gallery(path) -> List[Person]:
    """The persons of a gallery file; [] when the file does not exist yet."""
    from faceverse_ros.identity.person_model import PersonModel

    path = Path(path)
    if not path.exists():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GalleryFileError(f"cannot read identity gallery {path}: {_why(exc)}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise GalleryFileError(f"identity gallery {path} is corrupt (not JSON: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise GalleryFileError(f"{path} is not a faceverse_ros identity gallery (no "
                               f"\"format\": \"{FORMAT}\")")
    if data.get("version") != VERSION:
        raise GalleryFileError(f"identity gallery {path} has format version "
                               f"{data.get('version')!r}; this faceverse_ros reads version "
                               f"{VERSION}")
    persons = []
    try:
        for entry in data["persons"]:
            emb = np.asarray(entry["embedding"], dtype=np.float64)
            if emb.shape != (128,) or not np.all(np.isfinite(emb)):
                raise ValueError(f"person {entry.get('id')!r}: embedding is not 128 finite numbers")
            pid, name = str(entry["id"]), str(entry["name"])
            if not pid or not name:
                raise ValueError("a person without id or name")
            model = PersonModel.from_dict(entry["model"]) if entry.get("model") else None
            persons.append(Person(pid, emb, int(entry.get("samples", 1)), 0.0, name=name,
                                  model=model))
    except (KeyError, TypeError, ValueError) as exc:
        raise GalleryFileError(f"identity gallery {path} is corrupt ({_why(exc)})") from None
    return persons


def write_gallery(path, persons) -> int:
    """Write the enrolled persons atomically, owner-only; returns how many were written.
    Raises GalleryFileError (one line) when the folder cannot take the file."""
    path = Path(path)
    entries = []
    for p in persons:
        if not p.enrolled:
            continue
        entry = {"id": p.id, "name": p.name, "samples": int(p.samples),
                 "embedding": [float(v) for v in np.asarray(p.embedding).reshape(-1)]}
        if p.model is not None:
            entry["model"] = p.model.to_dict()
        entries.append(entry)
    text = json.dumps({"format": FORMAT, "version": VERSION, "persons": entries}, indent=1)
    folder = path.parent if str(path.parent) else Path(".")
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise GalleryFileError(f"cannot write identity gallery {path}: {_why(exc)}") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return len(entries)


def _why(exc):
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return " ".join(str(exc).split())
