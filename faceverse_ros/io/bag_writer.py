"""Results written as a rosbag2 bag (MCAP or sqlite3), without ROS.

One frame's results become the messages the node would publish for it, each
stamped with the header of the source image the values describe (stamp and
frame_id copied; with smoother kind "original" that is an earlier frame):
faceverse_ros/msg/FaceVerseParamsArray on /faceverse/params (every frame, an
empty array when no face is tracked), tf2_msgs/msg/TFMessage on /tf
(face_<id>, gaze_<id>; frames with faces), and when asked the debug image
(sensor_msgs/msg/Image, rgb8) on /faceverse/debug_image and the mesh markers
(visualization_msgs/msg/MarkerArray) on /faceverse/mesh. Each message is
recorded at the time its source image was recorded, so the output plays in
step with the input bag. Every connection stores its message definition
(ros2msg text and type hash), which `ros2 bag info/play` and Foxglove read.

The field values come from faceverse_ros.io.face_fields, the same function
the node's messages use. `close()` writes metadata.yaml; call it (or use the
writer as a context manager) even when processing stops early.
"""
from pathlib import Path

import numpy as np

from faceverse_ros.io.face_fields import (BLOCKS, ROOT_PREFIX, face_fields, face_frames,
                                             mesh_marker_fields)
from faceverse_ros.io.bag_types import BagError, typestore

PARAMS_TOPIC = "/faceverse/params"
TF_TOPIC = "/tf"
DEBUG_TOPIC = "/faceverse/debug_image"
MESH_TOPIC = "/faceverse/mesh"
STORAGES = ("mcap", "sqlite3")

_NUMPY = {"bool": np.bool_, "byte": np.uint8, "char": np.uint8, "int8": np.int8,
          "uint8": np.uint8, "int16": np.int16, "uint16": np.uint16, "int32": np.int32,
          "uint32": np.uint32, "int64": np.int64, "uint64": np.uint64, "float32": np.float32,
          "float64": np.float64}


def make(typename, **fields):
    """A rosbags message of `typename` with zero/empty defaults, then `fields` set."""
    from rosbags.interfaces import Nodetype

    store = typestore()

    def default(node):
        kind, desc = node
        if kind == Nodetype.NAME:
            return make(desc)
        if kind == Nodetype.BASE:
            name = desc[0]
            return "" if name == "string" else False if name == "bool" else \
                0.0 if name.startswith("float") else 0
        sub, length = desc
        if kind == Nodetype.ARRAY:
            if sub[0] == Nodetype.BASE and sub[1][0] in _NUMPY:
                return np.zeros(length, _NUMPY[sub[1][0]])
            return [default(sub) for _ in range(length)]
        if sub[0] == Nodetype.BASE and sub[1][0] in _NUMPY:  # sequence
            return np.zeros(0, _NUMPY[sub[1][0]])
        return []

    _, field_defs = store.fielddefs[typename]
    values = {name: fields[name] if name in fields else default(node) for name, node in field_defs}
    unknown = set(fields) - set(values)
    if unknown:
        raise TypeError(f"{typename} has no field {sorted(unknown)}")
    return store.types[typename](**values)


def _qos(reliable=True, depth=10):
    from rosbags.interfaces import (Qos, QosDurability, QosHistory, QosLiveliness,
                                    QosReliability, QosTime)

    never = QosTime(0, 0)
    return Qos(QosHistory.KEEP_LAST, depth,
               QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT,
               QosDurability.VOLATILE, never, never, QosLiveliness.AUTOMATIC, never, False)


class BagWriter:
    """Writes per-frame results to a new rosbag2 bag at `path`."""

    def __init__(self, path, storage="mcap", debug_image=False, mesh=False,
                 id_prefix=ROOT_PREFIX, with_landmarks=True):
        from rosbags.rosbag2 import StoragePlugin, Writer

        if storage not in STORAGES:
            raise BagError(f"unknown bag storage '{storage}' (choose {' or '.join(STORAGES)})")
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"output bag '{self.path}' exists already; name a new folder")
        self.id_prefix, self.with_landmarks = id_prefix, with_landmarks
        self.counts = {}
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        store = typestore()
        try:
            self._writer = Writer(self.path, version=Writer.VERSION_LATEST, storage_plugin=plugin)
            self._writer.open()
        except Exception as exc:
            raise BagError(f"cannot create bag '{self.path}': {exc}") from None
        self._conns = {}

        def add(topic, typename, qos):
            self._conns[topic] = self._writer.add_connection(
                topic, typename, typestore=store, offered_qos_profiles=[qos])
            self.counts[topic] = 0

        add(PARAMS_TOPIC, "faceverse_ros/msg/FaceVerseParamsArray", _qos())
        add(TF_TOPIC, "tf2_msgs/msg/TFMessage", _qos(depth=100))  # tf2_ros's QoS
        if debug_image:
            add(DEBUG_TOPIC, "sensor_msgs/msg/Image", _qos(reliable=False, depth=1))
        if mesh:
            add(MESH_TOPIC, "visualization_msgs/msg/MarkerArray", _qos(reliable=False, depth=1))

    @property
    def params_written(self):
        """Params messages written so far (one per frame, see the module doc)."""
        return self.counts[PARAMS_TOPIC]

    def _put(self, topic, time_ns, msg):
        data = typestore().serialize_cdr(msg, msg.__msgtype__)
        self._writer.write(self._conns[topic], int(time_ns), data)
        self.counts[topic] += 1

    def write(self, stamp, frame_id, time_ns, faces, image_size):
        """The params (and, with faces, TF) of one frame: stamp (sec, nanosec) and frame_id
        of the image header the faces describe, the time that image was recorded (ns),
        pipeline FaceResults of that frame and the image's (width, height)."""
        header = _header(stamp, frame_id)
        self._put(PARAMS_TOPIC, time_ns, make(
            "faceverse_ros/msg/FaceVerseParamsArray", header=header,
            faces=[self._face(f, image_size) for f in faces]))
        transforms = [make("geometry_msgs/msg/TransformStamped", header=header,
                           child_frame_id=child, transform=make(
                               "geometry_msgs/msg/Transform",
                               translation=_vector3(t), rotation=_quaternion(q)))
                      for f in faces for child, t, q in face_frames(f, self.id_prefix)]
        if transforms:
            self._put(TF_TOPIC, time_ns, make("tf2_msgs/msg/TFMessage", transforms=transforms))

    def write_views(self, stamp, frame_id, time_ns, debug_rgb=None, meshes=None):
        """The debug overlay (uint8 RGB) and the mesh markers ([(face_id, vertices_m,
        triangles, colours)]) of one frame, on the topics this writer was asked for."""
        header = _header(stamp, frame_id)
        if debug_rgb is not None and DEBUG_TOPIC in self._conns:
            rgb = np.ascontiguousarray(debug_rgb, dtype=np.uint8)
            self._put(DEBUG_TOPIC, time_ns, make(
                "sensor_msgs/msg/Image", header=header, height=rgb.shape[0], width=rgb.shape[1],
                encoding="rgb8", is_bigendian=0, step=rgb.shape[1] * 3, data=rgb.reshape(-1)))
        if meshes is not None and MESH_TOPIC in self._conns:
            self._put(MESH_TOPIC, time_ns, self._markers(header, meshes))

    def _face(self, face, image_size):
        v = face_fields(face, image_size, self.id_prefix, self.with_landmarks)
        x, y, w, h = v["roi"]
        pos, ori, gaze = v["head_position"], v["head_orientation"], v["gaze_direction"]
        blocks = {name: v[name] for name, _ in BLOCKS}
        return make("faceverse_ros/msg/FaceVerseParams", face_id=v["face_id"], id=v["id"],
                    confidence=v["confidence"], mode=v["mode"],
                    roi=make("sensor_msgs/msg/RegionOfInterest", x_offset=x, y_offset=y,
                             width=w, height=h),
                    head_pose=make("geometry_msgs/msg/Pose", position=make(
                        "geometry_msgs/msg/Point", x=pos[0], y=pos[1], z=pos[2]),
                        orientation=_quaternion(ori)),
                    gaze_direction=_vector3(gaze), gaze_confidence=v["gaze_confidence"],
                    gaze_target=v["gaze_target"],
                    gaze_target_confidence=v["gaze_target_confidence"],
                    mutual_gaze=v["mutual_gaze"], landmarks=v["landmarks"],
                    blendshapes=v["blendshapes"], depth_measured=v["depth_measured"],
                    depth_confidence=v["depth_confidence"], **blocks)

    def _markers(self, header, meshes):
        markers = []
        for m in mesh_marker_fields(meshes):
            points = [make("geometry_msgs/msg/Point", x=x, y=y, z=z)
                      for x, y, z in m["vertex_points"]]
            colors = [make("std_msgs/msg/ColorRGBA", r=r, g=g, b=b, a=a)
                      for r, g, b, a in m["vertex_colors"]]
            markers.append(make(
                "visualization_msgs/msg/Marker", header=header, ns=m["ns"], id=m["id"],
                type=m["type"], action=m["action"],
                pose=make("geometry_msgs/msg/Pose", orientation=_quaternion((0, 0, 0, 1))),
                scale=_vector3(m["scale"]), color=make("std_msgs/msg/ColorRGBA", **m["color"]),
                lifetime=make("builtin_interfaces/msg/Duration", sec=m["lifetime"][0],
                              nanosec=m["lifetime"][1]),
                points=[points[i] for i in m["corners"]],
                colors=[colors[i] for i in m["corners"]]))
        return make("visualization_msgs/msg/MarkerArray", markers=markers)

    def close(self):
        """Writes metadata.yaml and closes the storage; safe to call twice."""
        writer, self._writer = getattr(self, "_writer", None), None
        if writer is not None:
            writer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _header(stamp, frame_id):
    return make("std_msgs/msg/Header", frame_id=frame_id, stamp=make(
        "builtin_interfaces/msg/Time", sec=int(stamp[0]), nanosec=int(stamp[1])))


def _vector3(v):
    return make("geometry_msgs/msg/Vector3", x=float(v[0]), y=float(v[1]), z=float(v[2]))


def _quaternion(q):
    return make("geometry_msgs/msg/Quaternion", x=float(q[0]), y=float(q[1]), z=float(q[2]),
                w=float(q[3]))
