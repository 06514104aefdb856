"""Pipeline results -> faceverse_ros messages and TF transforms (ROS layer).

The field values come from faceverse_ros.core.face_fields (shared with the
bag writer); this module only puts them into the rclpy message classes.
"""
from faceverse_ros.core.face_fields import BLOCKS, ROOT_PREFIX, face_fields, face_frames
from faceverse_ros.msg import FaceVerseParams, FaceVerseParamsArray
from faceverse_ros.ros.tf import make_transform


def face_to_msg(face, image_size, with_landmarks=True, id_prefix=ROOT_PREFIX):
    """One pipeline FaceResult -> FaceVerseParams.

    The ROI is the face's squared box clipped to the image (RegionOfInterest
    cannot hold negative offsets).
    """
    v = face_fields(face, image_size, id_prefix, with_landmarks)
    msg = FaceVerseParams()
    msg.face_id, msg.id, msg.confidence, msg.mode = v["face_id"], v["id"], v["confidence"], v["mode"]
    msg.roi.x_offset, msg.roi.y_offset, msg.roi.width, msg.roi.height = v["roi"]
    for name, _, _ in BLOCKS:
        setattr(msg, name, v[name])
    p, q, g = msg.head_pose.position, msg.head_pose.orientation, msg.gaze_direction
    p.x, p.y, p.z = v["head_position"]
    q.x, q.y, q.z, q.w = v["head_orientation"]
    g.x, g.y, g.z = v["gaze_direction"]
    msg.landmarks = v["landmarks"]
    msg.blendshapes = v["blendshapes"]
    return msg


def params_array(header, faces, image_size, with_landmarks=True, id_prefix=ROOT_PREFIX):
    out = FaceVerseParamsArray()
    out.header = header
    out.faces = [face_to_msg(f, image_size, with_landmarks, id_prefix) for f in faces]
    return out


def face_transforms(header, face):
    """face_<id> and gaze_<id>, both with the image's optical frame as parent."""
    return [make_transform(header.stamp, header.frame_id, child, translation, quaternion)
            for child, translation, quaternion in face_frames(face)]
