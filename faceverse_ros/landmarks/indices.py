"""MediaPipe Face Mesh landmark indices: every index set the package uses, in one place.

The Face Landmarker (and the legacy Face Mesh with refined landmarks) gives 478
points: 468 mesh vertices and 10 iris points (468-472 the person's right iris,
473-477 the left, the centre first). "Right" and "left" are the person's own sides:
the right eye appears on the image's left for a face looking at the camera.
"""

NUM_LANDMARKS = 478     # 468 mesh points + 10 iris points
NUM_MESH_VERTICES = 468

# ---- eyes
RIGHT_EYE_OUTER, RIGHT_EYE_INNER = 33, 133
LEFT_EYE_OUTER, LEFT_EYE_INNER = 263, 362
RIGHT_IRIS, LEFT_IRIS = 468, 473    # the refined iris centres
# (upper lid, lower lid) pairs at the middle and at about one and two thirds of the eye
EYELIDS = {"right": ((159, 145), (158, 153), (160, 144)),
           "left": ((386, 374), (385, 380), (387, 373))}

# ---- nose and midline
SELLION = 168           # between the eyes on the nose bridge: the head frame's origin
# On the face's mid-sagittal line (sellion, nose bridge to tip, forehead).
MIDLINE = (168, 6, 197, 195, 5, 4, 1, 9, 151, 10)
# (person's left, person's right) mirror pairs, checked on our data by reflecting the
# mean shape in its symmetry plane and matching nearest points.
MIRROR_PAIRS = ((263, 33), (362, 133), (327, 98), (358, 129), (454, 234), (356, 127),
                (323, 93), (345, 116), (352, 123), (280, 50), (346, 117), (251, 21),
                (284, 54), (332, 103), (297, 67), (338, 109), (446, 226))

# ---- mouth
MOUTH_CORNERS = (61, 291)
INNER_LIPS = ((13, 14), (82, 87), (312, 317))   # (upper, lower) inner lip: centre and sides

# ---- the 70 ROS4HRI facial landmarks (hri_msgs/FacialLandmarks, dlib / iBUG 300-W order):
# (hri_msgs constant name, MediaPipe index), 0..69; how each vertex was chosen is in
# faceverse_ros/ros/hri_landmarks.py.
HRI_70 = (
    ("RIGHT_EAR", 127),
    ("RIGHT_PROFILE_1", 234),
    ("RIGHT_PROFILE_2", 93),
    ("RIGHT_PROFILE_3", 132),
    ("RIGHT_PROFILE_4", 58),
    ("RIGHT_PROFILE_5", 172),
    ("RIGHT_PROFILE_6", 150),
    ("RIGHT_PROFILE_7", 176),
    ("MENTON", 152),
    ("LEFT_PROFILE_7", 400),
    ("LEFT_PROFILE_6", 379),
    ("LEFT_PROFILE_5", 397),
    ("LEFT_PROFILE_4", 288),
    ("LEFT_PROFILE_3", 361),
    ("LEFT_PROFILE_2", 323),
    ("LEFT_PROFILE_1", 454),
    ("LEFT_EAR", 356),
    ("RIGHT_EYEBROW_OUTSIDE", 70),
    ("RIGHT_EYEBROW_1", 63),
    ("RIGHT_EYEBROW_2", 105),
    ("RIGHT_EYEBROW_3", 66),
    ("RIGHT_EYEBROW_INSIDE", 107),
    ("LEFT_EYEBROW_INSIDE", 336),
    ("LEFT_EYEBROW_3", 296),
    ("LEFT_EYEBROW_2", 334),
    ("LEFT_EYEBROW_1", 293),
    ("LEFT_EYEBROW_OUTSIDE", 300),
    ("SELLION", 168),
    ("NOSE_1", 197),
    ("NOSE_2", 5),
    ("NOSE", 1),
    ("NOSTRIL_1", 98),
    ("NOSTRIL_2", 97),
    ("NOSTRIL_3", 2),
    ("NOSTRIL_4", 326),
    ("NOSTRIL_5", 327),
    ("RIGHT_EYE_OUTSIDE", 33),
    ("RIGHT_EYE_TOP_1", 160),
    ("RIGHT_EYE_TOP_2", 158),
    ("RIGHT_EYE_INSIDE", 133),
    ("RIGHT_EYE_BOTTOM_2", 153),
    ("RIGHT_EYE_BOTTOM_1", 144),
    ("LEFT_EYE_INSIDE", 362),
    ("LEFT_EYE_TOP_2", 385),
    ("LEFT_EYE_TOP_1", 387),
    ("LEFT_EYE_OUTSIDE", 263),
    ("LEFT_EYE_BOTTOM_1", 373),
    ("LEFT_EYE_BOTTOM_2", 380),
    ("MOUTH_OUTER_RIGHT", 61),
    ("MOUTH_OUTER_TOP_1", 40),
    ("MOUTH_OUTER_TOP_2", 37),
    ("MOUTH_OUTER_TOP_3", 0),
    ("MOUTH_OUTER_TOP_4", 267),
    ("MOUTH_OUTER_TOP_5", 270),
    ("MOUTH_OUTER_LEFT", 291),
    ("MOUTH_OUTER_BOTTOM_5", 321),
    ("MOUTH_OUTER_BOTTOM_4", 314),
    ("MOUTH_OUTER_BOTTOM_3", 17),
    ("MOUTH_OUTER_BOTTOM_2", 84),
    ("MOUTH_OUTER_BOTTOM_1", 91),
    ("MOUTH_INNER_RIGHT", 78),
    ("MOUTH_INNER_TOP_1", 81),
    ("MOUTH_INNER_TOP_2", 13),
    ("MOUTH_INNER_TOP_3", 311),
    ("MOUTH_INNER_LEFT", 308),
    ("MOUTH_INNER_BOTTOM_3", 402),
    ("MOUTH_INNER_BOTTOM_2", 14),
    ("MOUTH_INNER_BOTTOM_1", 178),
    ("RIGHT_PUPIL", 468),
    ("LEFT_PUPIL", 473),
)
