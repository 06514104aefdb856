"""A person's FaceVerse identity and albedo: a robust running estimate over their keyframes.

Every keyframe of a track that belongs to a person gives the network's identity (shape)
and albedo (texture) coefficients of that frame. One keyframe can be poor (a hand over
the face, motion blur, a face turned far away), so the estimate is the coordinate-wise
MEDIAN of the person's last ``WINDOW`` keyframe vectors: a few bad keyframes among them
move it little (up to half of the window may be outliers), while a mean would follow
each of them. The window also lets the estimate follow slow changes (lighting of the
albedo, a beard).

Use as a prior (:func:`with_person_prior`): once a track's person is known (a few
frames after the track starts: identity.recognizer), each of its keyframes puts the
network's values into the estimate and is itself pulled towards the estimate of the
keyframes before by :meth:`PersonModel.blend`, with the weight of those keyframes
(``n / (n + 1)``, at most ``MAX_PRIOR_WEIGHT``): a returning person's reconstruction holds
what was learned about them instead of starting again from one frame's guess. The
track's very first keyframe comes before its person is known and has no prior.
"""
import threading
from typing import Optional

import numpy as np

WINDOW = 15
MAX_PRIOR_WEIGHT = 0.9


class PersonModel:
    """Median identity/albedo of a person over their recent keyframes (module doc)."""

    def __init__(self, shape_size: int, texture_size: int):
        self.shape_size, self.texture_size = int(shape_size), int(texture_size)
        self._window = []           # recent (shape, texture) concatenations
        self.keyframes = 0          # keyframes ever added
        self._median: Optional[np.ndarray] = None
        self._lock = threading.Lock()  # the frame path and the keyframe worker add

    def add(self, shape, texture):
        """One keyframe's coefficients of this person."""
        v = np.concatenate([np.asarray(shape, np.float64).reshape(-1),
                            np.asarray(texture, np.float64).reshape(-1)])
        if v.size != self.shape_size + self.texture_size or not np.all(np.isfinite(v)):
            return
        with self._lock:
            self._window.append(v)
            del self._window[:-WINDOW]
            self.keyframes += 1
            self._median = np.median(np.stack(self._window), axis=0)

    @property
    def ready(self) -> bool:
        return self._median is not None

    def prior(self):
        """(shape, texture) estimate, or None before the first keyframe."""
        if self._median is None:
            return None
        return self._median[:self.shape_size].copy(), self._median[self.shape_size:].copy()

    def weight(self) -> float:
        n = min(self.keyframes, WINDOW)
        return min(MAX_PRIOR_WEIGHT, n / (n + 1.0)) if n else 0.0

    def blend(self, shape, texture):
        """A keyframe's (shape, texture) pulled towards the estimate (module doc)."""
        with self._lock:
            prior, w = self.prior(), self.weight()
        if prior is None:
            return np.asarray(shape), np.asarray(texture)
        return (w * prior[0] + (1 - w) * np.asarray(shape, np.float64),
                w * prior[1] + (1 - w) * np.asarray(texture, np.float64))

    def to_dict(self):
        return {"shape_size": self.shape_size, "texture_size": self.texture_size,
                "keyframes": self.keyframes,
                "window": [[float(x) for x in v] for v in self._window]}

    @classmethod
    def from_dict(cls, data):
        model = cls(int(data["shape_size"]), int(data["texture_size"]))
        for v in data["window"]:
            v = np.asarray(v, dtype=np.float64)
            if v.shape != (model.shape_size + model.texture_size,):
                raise ValueError("person model window of the wrong size")
            model._window.append(v)
        model._window = model._window[-WINDOW:]
        model.keyframes = int(data.get("keyframes", len(model._window)))
        if model._window:
            model._median = np.median(np.stack(model._window), axis=0)
        return model


def with_person_prior(prior, coeffs, slices):
    """A keyframe's network values of a track whose person is known (prior: that person's
    PersonModel): the network's identity and albedo go into the
    person's estimate, and come out pulled towards the estimate of the keyframes before
    (PersonModel.blend). Without a person: the values as they are."""
    if prior is None or not np.all(np.isfinite(coeffs)):
        return coeffs
    out = np.array(coeffs, dtype=np.float32)
    shape, tex = prior.blend(out[slices["id"]], out[slices["tex"]])
    prior.add(out[slices["id"]], out[slices["tex"]])
    out[slices["id"]], out[slices["tex"]] = shape, tex
    return out
