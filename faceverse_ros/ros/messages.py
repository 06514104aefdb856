"""Pipeline results -> faceverse_ros messages and TF transforms (ROS layer)."""
import numpy as np

from faceverse_ros.core.layout import MODE_LANDMARK_FIT, MODE_LANDMARK_ONLY, MODE_REGRESSOR, V4
from faceverse_ros.msg import FaceVerseParams, FaceVerseParamsArray
from faceverse_ros.ros.ids import face_id_string
from faceverse_ros.ros.tf import make_transform

#: layout block -> FaceVerseParams field
FIELDS = {"id": "shape", "exp": "expression", "tex": "texture", "gamma": "lighting",
          "angles": "rotation", "trans": "translation", "eyes": "eyes"}


def check_layout(layout=V4):
    """The one check of the coefficient layout against FaceVerseParams.msg's size
    constants and modes; raises ValueError naming the block that differs. Returns the
    (field, slice) pairs messages are filled with."""
    sizes = {f"{FIELDS[name].upper()}_SIZE": size for name, size in layout.sizes}
    sizes["COEFFICIENT_COUNT"] = layout.total
    sizes.update(MODE_REGRESSOR=MODE_REGRESSOR, MODE_LANDMARK_FIT=MODE_LANDMARK_FIT,
                 MODE_LANDMARK_ONLY=MODE_LANDMARK_ONLY)
    for constant, value in sizes.items():
        if getattr(FaceVerseParams, constant) != value:
            raise ValueError(f"coefficient layout does not fit FaceVerseParams.msg: {constant} is "
                             f"{getattr(FaceVerseParams, constant)}, the layout has {value}")
    return tuple((FIELDS[name], sl) for name, sl in layout.slices.items())


_BLOCKS = check_layout(V4)


def face_to_msg(face, image_size, with_landmarks=True, prefix="f"):
    """One pipeline FaceResult -> FaceVerseParams (``id``: ``<prefix><face_id>``, ros/ids.py).

    The ROI is the face's squared box clipped to the image (RegionOfInterest
    cannot hold negative offsets).
    """
    width, height = image_size
    msg = FaceVerseParams()
    msg.face_id = int(face.face_id)
    msg.id = face_id_string(prefix, face.face_id)
    msg.confidence = float(face.confidence)
    msg.mode = int(face.mode)
    x0, y0, x1, y1 = face.box
    cx0, cy0 = int(np.clip(np.floor(x0), 0, width)), int(np.clip(np.floor(y0), 0, height))
    cx1, cy1 = int(np.clip(np.ceil(x1), 0, width)), int(np.clip(np.ceil(y1), 0, height))
    msg.roi.x_offset, msg.roi.y_offset = cx0, cy0
    msg.roi.width, msg.roi.height = max(cx1 - cx0, 0), max(cy1 - cy0, 0)
    coeffs = np.asarray(face.coeffs, dtype=np.float32)
    for name, sl in _BLOCKS:
        setattr(msg, name, coeffs[sl])
    pose = face.pose
    p = msg.head_pose.position
    p.x, p.y, p.z = (float(v) for v in pose.position)
    q = msg.head_pose.orientation
    q.x, q.y, q.z, q.w = (float(v) for v in pose.quaternion)
    g = msg.gaze_direction
    g.x, g.y, g.z = (float(v) for v in pose.gaze_direction)
    if with_landmarks:
        msg.landmarks = np.asarray(face.landmarks[:, :2], dtype=np.float32).reshape(-1)
    return msg


def params_array(header, faces, image_size, with_landmarks=True, prefix="f"):
    out = FaceVerseParamsArray()
    out.header = header
    out.faces = [face_to_msg(f, image_size, with_landmarks, prefix) for f in faces]
    return out


def face_transforms(header, face, prefix="f"):
    """face_<id> and gaze_<id> (<id> = <prefix><face_id>, ros/ids.py), both with the image's
    optical frame as parent."""
    pose = face.pose
    sid = face_id_string(prefix, face.face_id)
    return [
        make_transform(header.stamp, header.frame_id, f"face_{sid}", pose.position,
                       pose.quaternion),
        make_transform(header.stamp, header.frame_id, f"gaze_{sid}", pose.position,
                       pose.gaze_quaternion),
    ]
