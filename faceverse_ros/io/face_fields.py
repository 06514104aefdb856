"""One tracked face as plain field values (no ROS).

The ROS-free half of filling a faceverse_ros/FaceVerseParams message and the
face's TF transforms: the node (ROS message classes, faceverse_ros.ros.messages)
and the bag writer (rosbags classes, faceverse_ros.io.bag_writer) both build
their messages from these values, so the field rules live here once: the
coefficient blocks, the ROI clipping, the id string and the TF frame names.

`face` is a pipeline FaceResult (read by attribute: face_id, confidence, mode,
box, coeffs, pose, landmarks and, when the detector gives them, blendshapes).
"""
import numpy as np

from faceverse_ros.core.gaze_target import CAMERA
from faceverse_ros.io.face_ids import face_id_string
from faceverse_ros.core.layout import V4

#: coefficient layout block -> FaceVerseParams field
FIELDS = {"id": "shape", "exp": "expression", "tex": "texture", "gamma": "lighting",
          "angles": "rotation", "trans": "translation", "eyes": "eyes"}
#: (FaceVerseParams field, slice of the coefficient vector) in vector order, from the one
#: layout (core.layout.V4; ros/messages.py checks it against the .msg size constants)
BLOCKS = tuple((FIELDS[name], sl) for name, sl in V4.slices.items())

# the prefix of ids at the root namespace (faceverse_ros.io.face_ids.default_prefix("/"))
ROOT_PREFIX = "f"


def clipped_roi(box, image_size):
    """(x_offset, y_offset, width, height) of a box (x0, y0, x1, y1) clipped to the image.

    RegionOfInterest holds unsigned pixels, so the box is widened to whole pixels
    (floor/ceil) and cut at the image border.
    """
    width, height = image_size
    x0, y0, x1, y1 = (float(v) for v in box)
    cx0, cy0 = int(np.clip(np.floor(x0), 0, width)), int(np.clip(np.floor(y0), 0, height))
    cx1, cy1 = int(np.clip(np.ceil(x1), 0, width)), int(np.clip(np.ceil(y1), 0, height))
    return cx0, cy0, max(cx1 - cx0, 0), max(cy1 - cy0, 0)


def face_fields(face, image_size, id_prefix=ROOT_PREFIX, with_landmarks=True):
    """The FaceVerseParams fields of one face as plain Python / numpy values.

    Returns a dict with the message's field names: face_id, id, confidence, mode,
    roi (x_offset, y_offset, width, height), the seven coefficient blocks (float32
    arrays), head_position (x, y, z), head_orientation (x, y, z, w), gaze_direction
    (x, y, z), gaze_confidence, gaze_target, gaze_target_confidence, mutual_gaze
    (gaze_target_fields), landmarks (float32, flattened x, y; empty unless with_landmarks),
    blendshapes (float32; empty when the detector gives none), depth_measured (bool) and
    depth_confidence (float; 0 when not measured).
    """
    coeffs = np.asarray(face.coeffs, dtype=np.float32).reshape(-1)
    pose = face.pose
    blendshapes = getattr(face, "blendshapes", None)
    fields = dict(
        face_id=int(face.face_id),
        id=face_id_string(id_prefix, face.face_id),
        confidence=float(face.confidence),
        mode=int(face.mode),
        roi=clipped_roi(face.box, image_size),
        head_position=tuple(float(v) for v in pose.position),
        head_orientation=tuple(float(v) for v in pose.quaternion),
        gaze_direction=tuple(float(v) for v in pose.gaze_direction),
        **gaze_target_fields(face, id_prefix),
        landmarks=(np.asarray(face.landmarks[:, :2], dtype=np.float32).reshape(-1)
                   if with_landmarks else np.zeros(0, np.float32)),
        blendshapes=(np.asarray(blendshapes, dtype=np.float32).reshape(-1)
                     if blendshapes is not None else np.zeros(0, np.float32)),
        depth_measured=bool(getattr(face, "depth_measured", False)),
        depth_confidence=float(getattr(face, "depth_confidence", 0.0)),
    )
    for name, sl in BLOCKS:
        fields[name] = coeffs[sl].copy()
    return fields


def gaze_target_fields(face, id_prefix=ROOT_PREFIX):
    """gaze_confidence, gaze_target (CAMERA, another face's id string, or ""),
    gaze_target_confidence and mutual_gaze of a FaceResult."""
    target = getattr(face, "gaze_target", None)
    if target is None:
        name = ""
    elif target == CAMERA:
        name = CAMERA
    else:
        name = face_id_string(id_prefix, int(target))
    return dict(gaze_confidence=float(getattr(face, "gaze_confidence", 1.0)), gaze_target=name,
                gaze_target_confidence=float(getattr(face, "gaze_target_confidence", 0.0)),
                mutual_gaze=bool(getattr(face, "mutual_gaze", False)))


def face_frames(face, id_prefix=ROOT_PREFIX):
    """The face's TF transforms as (child frame, translation m, quaternion x, y, z, w).

    face_<id> (REP-155 head frame) and gaze_<id> with <id> = face_id_string(id_prefix,
    face_id), the REP-155 id of /humans/faces/<id>/; both children of the image's optical frame.
    """
    pose = face.pose
    name = face_id_string(id_prefix, face.face_id)
    return [(f"face_{name}", tuple(float(v) for v in pose.position),
             tuple(float(v) for v in pose.quaternion)),
            (f"gaze_{name}", tuple(float(v) for v in pose.position),
             tuple(float(v) for v in pose.gaze_quaternion))]


# visualization_msgs/Marker constants used for the mesh markers
MARKER_TRIANGLE_LIST, MARKER_ADD, MARKER_DELETEALL = 11, 0, 3
MESH_NAMESPACE = "faceverse_mesh"


def mesh_marker_fields(meshes, lifetime_s=0.5):
    """The visualization_msgs/MarkerArray of the face meshes as plain values.

    meshes: iterable of (face_id, vertices_m (V, 3) in the optical frame, triangles (T, 3),
    colours (V, 3) RGB in [0, 1]). Returns a list of marker dicts: first a DELETEALL of
    our namespace, then one TRIANGLE_LIST per face. A mesh marker holds its vertices once
    (vertex_points (V, 3) float64, vertex_colors (V, 4) RGBA float64, as NumPy arrays) and
    `corners` (int64), the vertex index of each triangle corner: the marker's points/colors
    are those rows indexed by corners.
    """
    sec = int(lifetime_s)
    common = dict(ns=MESH_NAMESPACE, scale=(1.0, 1.0, 1.0),
                  color=dict(r=1.0, g=1.0, b=1.0, a=1.0),
                  lifetime=(sec, int(round((lifetime_s - sec) * 1e9))))
    out = [dict(ns=MESH_NAMESPACE, id=0, type=0, action=MARKER_DELETEALL, scale=(0.0, 0.0, 0.0),
                color=dict(r=0.0, g=0.0, b=0.0, a=0.0), lifetime=(0, 0),
                vertex_points=np.zeros((0, 3)), vertex_colors=np.zeros((0, 4)),
                corners=np.zeros(0, np.int64))]
    for face_id, vertices, triangles, colors in meshes:
        cols = np.clip(np.asarray(colors, dtype=np.float64), 0.0, 1.0)
        rgba = np.concatenate([cols, np.ones((len(cols), 1))], axis=1)
        out.append(dict(common, id=int(face_id), type=MARKER_TRIANGLE_LIST, action=MARKER_ADD,
                        vertex_points=np.asarray(vertices, dtype=np.float64).reshape(-1, 3),
                        vertex_colors=rgba,
                        corners=np.asarray(triangles, dtype=np.int64).reshape(-1)))
    return out
