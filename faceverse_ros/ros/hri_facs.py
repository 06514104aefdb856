"""FACS action units (hri_msgs/FacialActionUnits) from MediaPipe's 52 blendshapes.

MediaPipe's Face Landmarker scores the ARKit blendshapes, each defined as one
facial movement (Apple's descriptions are written in FACS terms). Only the
action units that have a blendshape describing the same movement are filled;
every other AU keeps intensity 0 and confidence 0 ("not estimated"):

    AU  1 inner brow raiser     browInnerUp
    AU  2 outer brow raiser     browOuterUp{Left,Right}
    AU  4 brow lowerer          browDown{Left,Right}
    AU  5 upper lid raiser      eyeWide{Left,Right}
    AU  6 cheek raiser          cheekSquint{Left,Right}
    AU  7 lid tightener         eyeSquint{Left,Right}
    AU  9 nose wrinkler         noseSneer{Left,Right}
    AU 10 upper lip raiser      mouthUpperUp{Left,Right}
    AU 12 lip corner puller     mouthSmile{Left,Right}
    AU 14 dimpler               mouthDimple{Left,Right}
    AU 15 lip corner depressor  mouthFrown{Left,Right}
    AU 16 lower lip depressor   mouthLowerDown{Left,Right}
    AU 17 chin raiser           mouthShrugLower
    AU 18 lip pucker            mouthPucker
    AU 20 lip stretcher         mouthStretch{Left,Right}
    AU 22 lip funneler          mouthFunnel
    AU 24 lip pressor           mouthPress{Left,Right}
    AU 26 jaw drop              jawOpen
    AU 28 lip suck              mouthRoll{Lower,Upper}
    AU 29 jaw thrust            jawForward
    AU 30 jaw sideways          jaw{Left,Right}
    AU 34 cheek puff            cheekPuff
    AU 43 eyes closed           eyeBlink{Left,Right} (both: the smaller)

Paired blendshapes (two sides) give the larger of the two: FACS scores an AU
present when either side shows it. Intensity is the blendshape score in
[0, 1] as MediaPipe gives it: a model output, not a calibrated FACS A-E
intensity. MediaPipe gives no per-blendshape confidence, so a filled AU's
confidence is the face's detection confidence. Left out on purpose: blinks,
winks, head and eye movement codes (events over time, or already published as
TF face_<id> / gaze_<id>), lips part (AU 25: no blendshape of its own).
"""
import numpy as np

# MediaPipe Face Landmarker category order (msg/FaceVerseParams.msg, blendshapes)
BLENDSHAPE_NAMES = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft",
    "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
    "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft",
    "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen",
    "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower",
    "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "noseSneerLeft", "noseSneerRight")
NUM_BLENDSHAPES = 52
NUM_AUS = 99   # FacialActionUnits.intensity has one slot per AU code 0..98

# AU code -> (blendshape names, how two are combined)
AU_FROM_BLENDSHAPES = {
    1: (("browInnerUp",), max),
    2: (("browOuterUpLeft", "browOuterUpRight"), max),
    4: (("browDownLeft", "browDownRight"), max),
    5: (("eyeWideLeft", "eyeWideRight"), max),
    6: (("cheekSquintLeft", "cheekSquintRight"), max),
    7: (("eyeSquintLeft", "eyeSquintRight"), max),
    9: (("noseSneerLeft", "noseSneerRight"), max),
    10: (("mouthUpperUpLeft", "mouthUpperUpRight"), max),
    12: (("mouthSmileLeft", "mouthSmileRight"), max),
    14: (("mouthDimpleLeft", "mouthDimpleRight"), max),
    15: (("mouthFrownLeft", "mouthFrownRight"), max),
    16: (("mouthLowerDownLeft", "mouthLowerDownRight"), max),
    17: (("mouthShrugLower",), max),
    18: (("mouthPucker",), max),
    20: (("mouthStretchLeft", "mouthStretchRight"), max),
    22: (("mouthFunnel",), max),
    24: (("mouthPressLeft", "mouthPressRight"), max),
    26: (("jawOpen",), max),
    28: (("mouthRollLower", "mouthRollUpper"), max),
    29: (("jawForward",), max),
    30: (("jawLeft", "jawRight"), max),
    34: (("cheekPuff",), max),
    43: (("eyeBlinkLeft", "eyeBlinkRight"), min),
}
_INDEX = {name: i for i, name in enumerate(BLENDSHAPE_NAMES)}


def facs_values(blendshapes, face_confidence):
    """(intensity[99], confidence[99]) float32 arrays from 52 blendshape scores."""
    scores = np.asarray(blendshapes, dtype=np.float64).reshape(-1)
    if scores.shape[0] != NUM_BLENDSHAPES:
        raise ValueError(f"expected {NUM_BLENDSHAPES} blendshapes, got {scores.shape[0]}")
    intensity = np.zeros(NUM_AUS, dtype=np.float32)
    confidence = np.zeros(NUM_AUS, dtype=np.float32)
    c = float(np.clip(face_confidence, 0.0, 1.0))
    for au, (names, combine) in AU_FROM_BLENDSHAPES.items():
        value = combine(scores[_INDEX[n]] for n in names)
        if np.isfinite(value):
            intensity[au] = float(np.clip(value, 0.0, 1.0))
            confidence[au] = c
    return intensity, confidence
