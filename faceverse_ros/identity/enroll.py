"""Enrol, list and forget persons: the one implementation behind the command line
(``faceverse-ros identities``) and the node's services.

Enrolling reads every image of a folder (jpg, jpeg, png, bmp, webp), takes the largest
face of each (the caller's ``detect``: rgb -> list of (box, landmarks)), computes its
descriptor and adds the person under that name. Photos whose face is far from the
others (more than the gallery's threshold from their median descriptor) are left out and
named: a folder of one person must not teach the gallery a second face.

Every change goes to the gallery file when there is one (store.write_gallery: atomic,
owner-only); a file that could not be read at start is never written over (``blocked``).
"""
import dataclasses
from pathlib import Path
from typing import Callable, List, Optional

import numpy as np

from faceverse_ros.identity.gallery import Gallery
from faceverse_ros.identity.store import GalleryFileError, write_gallery

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclasses.dataclass
class Outcome:
    success: bool
    message: str
    names: List[str] = dataclasses.field(default_factory=list)
    person_ids: List[str] = dataclasses.field(default_factory=list)


class GalleryAdmin:
    """enroll / list / forget on a gallery, saved to ``path`` (None: memory only)."""

    def __init__(self, gallery: Gallery, path: Optional[str], blocked: str = "",
                 detect: Optional[Callable] = None, describe: Optional[Callable] = None):
        self.gallery, self.path, self.blocked = gallery, path, blocked
        self._detect, self._describe = detect, describe

    def _save(self) -> str:
        """'' when saved (or nothing to save to), else why not."""
        if not self.path:
            return ""
        if self.blocked:
            return f"not saved: {self.blocked}"
        try:
            write_gallery(self.path, list(self.gallery.persons.values()))
        except GalleryFileError as exc:
            return str(exc)
        return ""

    def where(self) -> str:
        return f"saved to {self.path}" if self.path else \
            "in memory only (no gallery file: identity.gallery_path / --gallery)"

    def enroll(self, name: str, folder: str) -> Outcome:
        name = (name or "").strip()
        if not name:
            return Outcome(False, "enroll needs a person's name")
        if self.path and self.blocked:
            return Outcome(False, f"nothing enrolled: {self.blocked}")
        root = Path(folder or "")
        if not folder or not root.is_dir():
            return Outcome(False, f"enroll: folder {folder!r} not found")
        images = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            return Outcome(False, f"enroll: no images ({', '.join(IMAGE_SUFFIXES)}) in {root}")
        import cv2

        items, used, skipped = [], [], []
        for path in images:
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                skipped.append(f"{path.name} (unreadable)")
                continue
            rgb = np.ascontiguousarray(bgr[:, :, ::-1])
            faces = self._detect(rgb)
            if not faces:
                skipped.append(f"{path.name} (no face)")
                continue
            box, landmarks = max(faces, key=lambda f: (f[0][2] - f[0][0]) * (f[0][3] - f[0][1]))
            items.append((rgb, landmarks))
            used.append(path.name)
        if not items:
            return Outcome(False, f"enroll {name}: no face found in {len(images)} image(s) of "
                                  f"{root}")
        descs = np.asarray(self._describe(items), dtype=np.float64)
        centre = np.median(descs, axis=0)
        far = np.linalg.norm(descs - centre, axis=1) > self.gallery.settings.threshold
        if far.all():
            return Outcome(False, f"enroll {name}: the photos in {root} do not show one person")
        skipped += [f"{n} (another face?)" for n, f in zip(used, far) if f]
        person = self.gallery.enroll(name, descs[~far])
        problem = self._save()
        note = f"; left out: {', '.join(skipped)}" if skipped else ""
        if problem:
            return Outcome(False, f"enrolled {name} as {person.id} from {int((~far).sum())} "
                                  f"photo(s) in memory, but {problem}{note}",
                           [name], [person.id])
        return Outcome(True, f"enrolled {name} as {person.id} from {int((~far).sum())} photo(s), "
                             f"{self.where()}{note}", [name], [person.id])

    def list(self) -> Outcome:
        enrolled = sorted((p for p in self.gallery.persons.values() if p.enrolled),
                          key=lambda p: p.name)
        return Outcome(True, f"{len(enrolled)} enrolled person(s), {self.where()}",
                       [p.name for p in enrolled], [p.id for p in enrolled])

    def forget(self, name: str) -> Outcome:
        name = (name or "").strip()
        if not name:
            return Outcome(False, "forget needs a person's name")
        if self.path and self.blocked:
            return Outcome(False, f"nothing forgotten: {self.blocked}")
        person = self.gallery.by_name(name)
        if person is None:
            return Outcome(False, f"no enrolled person named {name!r}")
        gone = self.gallery.forget(name)
        problem = self._save()
        if problem:
            return Outcome(False, f"forgot {name} in memory, but {problem}", [name], gone)
        return Outcome(True, f"forgot {name} ({', '.join(gone)}), {self.where()}", [name], gone)
