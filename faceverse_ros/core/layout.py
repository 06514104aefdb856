"""The coefficient layout: the one statement of the blocks of the coefficient vector.

FaceVerse V4's vector (spec 1) is, in order: id (identity / shape), exp
(expression), tex (texture), gamma (lighting, 27), angles (Euler angles, 3),
trans (translation, 3), eyes (4). The first three sizes come from the model
file (156, 177, 251 for V4: 621 values in all); the rest are fixed.

:func:`layout_for` derives it from the model's sizes; :data:`V4` is the layout
of the official file, which the landmark-only mode and the messages use
(ros/messages.py checks it against the FaceVerseParams.msg size constants).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

BLOCK_NAMES = ("id", "exp", "tex", "gamma", "angles", "trans", "eyes")
FIXED_SIZES = {"gamma": 27, "angles": 3, "trans": 3, "eyes": 4}

#: The pipeline's modes (the same values as FaceVerseParams.MODE_*).
MODE_REGRESSOR, MODE_LANDMARK_FIT, MODE_LANDMARK_ONLY = 0, 1, 2


@dataclass(frozen=True)
class CoefficientLayout:
    """Block name -> size, in vector order; slices and the total derived from them."""

    sizes: Tuple[Tuple[str, int], ...]

    @property
    def slices(self) -> Dict[str, slice]:
        out, start = {}, 0
        for name, size in self.sizes:
            out[name] = slice(start, start + size)
            start += size
        return out

    @property
    def total(self) -> int:
        return sum(size for _, size in self.sizes)

    def size(self, name: str) -> int:
        return dict(self.sizes)[name]

    @property
    def angles(self) -> slice:
        return self.slices["angles"]

    @property
    def trans(self) -> slice:
        return self.slices["trans"]

    @property
    def eyes(self) -> slice:
        return self.slices["eyes"]

    @property
    def head_sizes(self) -> Tuple[int, ...]:
        """Output sizes of the ReconNet heads: the blocks, with trans split into txy (2) and tz (1)."""
        d = dict(self.sizes)
        return (d["id"], d["exp"], d["tex"], d["gamma"], d["angles"], 2, 1, d["eyes"])


def layout_for(n_id: int, n_exp: int, n_tex: int) -> CoefficientLayout:
    """The layout of a model file with these basis sizes."""
    for name, n in (("id", n_id), ("exp", n_exp), ("tex", n_tex)):
        if int(n) <= 0:
            raise ValueError(f"{name} basis size must be positive, got {n}")
    given = {"id": int(n_id), "exp": int(n_exp), "tex": int(n_tex)}
    sizes = {**FIXED_SIZES, **given}
    return CoefficientLayout(tuple((name, sizes[name]) for name in BLOCK_NAMES))


#: The official FaceVerse V4 file's layout (621 values).
V4 = layout_for(156, 177, 251)
