"""Pipeline results -> faceverse_ros messages and TF transforms (ROS layer).

The field values come from faceverse_ros.io.face_fields (shared with the
bag writer); this module puts them into the rclpy message classes and holds
the one check of the coefficient layout against the message definition.
"""
from faceverse_ros.io.face_fields import BLOCKS, FIELDS, ROOT_PREFIX, face_fields, face_frames
from faceverse_ros.core.layout import MODE_LANDMARK_FIT, MODE_LANDMARK_ONLY, MODE_REGRESSOR, V4
from faceverse_ros.msg import FaceVerseParams, FaceVerseParamsArray
from faceverse_ros.ros.tf import make_transform


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
assert _BLOCKS == BLOCKS  # face_fields fills the messages with this same layout


def face_to_msg(face, image_size, with_landmarks=True, id_prefix=ROOT_PREFIX):
    """One pipeline FaceResult -> FaceVerseParams.

    The ROI is the face's squared box clipped to the image (RegionOfInterest
    cannot hold negative offsets).
    """
    v = face_fields(face, image_size, id_prefix, with_landmarks)
    msg = FaceVerseParams()
    msg.face_id, msg.id, msg.confidence, msg.mode = v["face_id"], v["id"], v["confidence"], v["mode"]
    msg.roi.x_offset, msg.roi.y_offset, msg.roi.width, msg.roi.height = v["roi"]
    for name, _ in BLOCKS:
        setattr(msg, name, v[name])
    p, q, g = msg.head_pose.position, msg.head_pose.orientation, msg.gaze_direction
    p.x, p.y, p.z = v["head_position"]
    q.x, q.y, q.z, q.w = v["head_orientation"]
    g.x, g.y, g.z = v["gaze_direction"]
    msg.gaze_confidence, msg.gaze_target = v["gaze_confidence"], v["gaze_target"]
    msg.gaze_target_confidence, msg.mutual_gaze = v["gaze_target_confidence"], v["mutual_gaze"]
    msg.landmarks = v["landmarks"]
    msg.blendshapes = v["blendshapes"]
    msg.depth_measured, msg.depth_confidence = v["depth_measured"], v["depth_confidence"]
    return msg


def params_array(header, faces, image_size, with_landmarks=True, id_prefix=ROOT_PREFIX):
    out = FaceVerseParamsArray()
    out.header = header
    out.faces = [face_to_msg(f, image_size, with_landmarks, id_prefix) for f in faces]
    return out


def face_transforms(header, face, id_prefix=ROOT_PREFIX):
    """face_<id> and gaze_<id> (<id> = the face's REP-155 id string), both with the image's
    optical frame as parent."""
    return [make_transform(header.stamp, header.frame_id, child, translation, quaternion)
            for child, translation, quaternion in face_frames(face, id_prefix)]
