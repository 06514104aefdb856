"""Writes rosbag2 bags of camera frames with rosbags, as a camera driver + `ros2 bag record`
would: the test and benchmark inputs for `faceverse-ros run --input BAG`.

Independent of faceverse_ros's own bag code: messages are built from rosbags' stock
ROS 2 Humble store (another distribution than the package's reader uses).
"""
from pathlib import Path

import cv2
import numpy as np

T0_NS = 1_700_000_000_123_456_789       # header stamp of the first frame


def record_delay_ns(index):
    """The recorder receives frame `index` 4-22 ms after its header stamp (varying, like a
    real transport), so record times and header stamps are different time axes."""
    return 4_000_000 + (index * 7_000_000) % 19_000_000

FRAME_ID = "camera_color_optical_frame"


def stamps_ns(count, fps):
    """Header stamps: T0 plus the frame index over the frame rate (ns)."""
    return [T0_NS + int(round(i * 1e9 / fps)) for i in range(count)]


def write_camera_bag(path, frames, fps, storage="mcap", kind="rgb8", topic="/camera/image_raw",
                     info_topic="/camera/camera_info", extra_image_topic=None, bad_every=0,
                     info=None, depth=None, depth_topic="/camera/aligned_depth_to_color/image_raw",
                     depth_frame_id=FRAME_ID):
    """A bag of `frames` on `topic`: kind 'rgb8'/'bgr8' (sensor_msgs/Image) or 'png'/'jpeg'
    (CompressedImage on topic + '/compressed'), with CameraInfo (fx = fy = width, principal
    point ((W-1)/2, (H-1)/2)) on `info_topic` before the first frame and every 10 frames.
    info: (fx, fy, cx, cy, width, height) of the CameraInfo instead (a calibration of
    another size: a binned stream). bad_every > 0 (raw kinds): every such frame is a 'bayer_rggb8' Image (unsupported).
    depth: a function (index) -> (encoding, 2-D array) or None: a depth Image on depth_topic
    with the frame's stamp (frame_id depth_frame_id), recorded 3 ms after the colour image.
    Returns (image topic, header stamps in ns)."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    T = store.types
    h, w = frames[0].shape[:2]
    compressed = kind in ("png", "jpeg")
    if compressed:
        topic = topic + "/compressed"
    msgtype = "sensor_msgs/msg/CompressedImage" if compressed else "sensor_msgs/msg/Image"
    assert not (bad_every and compressed), "unsupported frames are raw Images"
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    stamps = stamps_ns(len(frames), fps)

    def header(ns):
        return T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](
            sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000), frame_id=FRAME_ID)

    def camera_info(ns):
        fx, fy, cx, cy, iw, ih = info or (w, w, (w - 1) / 2, (h - 1) / 2, w, h)
        k = np.array([fx, 0, cx, 0, fy, cy, 0, 0, 1], dtype=np.float64)
        p = np.array([fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1, 0], dtype=np.float64)
        roi = T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                    do_rectify=False)
        return T["sensor_msgs/msg/CameraInfo"](
            header=header(ns), height=ih, width=iw, distortion_model="plumb_bob",
            d=np.zeros(5), k=k, r=np.eye(3).reshape(-1), p=p, binning_x=0, binning_y=0, roi=roi)

    def image(ns, rgb, bad):
        if compressed and not bad:
            ext = ".png" if kind == "png" else ".jpg"
            ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            assert ok
            return T["sensor_msgs/msg/CompressedImage"](header=header(ns), format=kind,
                                                        data=buf.reshape(-1))
        pixels = rgb if kind != "bgr8" else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        encoding = "bayer_rggb8" if bad else ("bgr8" if kind == "bgr8" else "rgb8")
        if bad:
            pixels = rgb[:, :, 1].copy()
        return T["sensor_msgs/msg/Image"](
            header=header(ns), height=h, width=w, encoding=encoding, is_bigendian=0,
            step=pixels.strides[0], data=np.ascontiguousarray(pixels).reshape(-1))

    with Writer(Path(path), version=9, storage_plugin=plugin) as writer:
        image_conn = writer.add_connection(topic, msgtype, typestore=store)
        info_conn = writer.add_connection(info_topic, "sensor_msgs/msg/CameraInfo",
                                          typestore=store) if info_topic else None
        extra = writer.add_connection(extra_image_topic, "sensor_msgs/msg/Image",
                                      typestore=store) if extra_image_topic else None
        depth_conn = writer.add_connection(depth_topic, "sensor_msgs/msg/Image",
                                           typestore=store) if depth is not None else None
        for i, (ns, rgb) in enumerate(zip(stamps, frames)):
            if info_conn is not None and i % 10 == 0:
                writer.write(info_conn, ns + record_delay_ns(i) - 1,
                             store.serialize_cdr(camera_info(ns), "sensor_msgs/msg/CameraInfo"))
            bad = bool(bad_every) and i % bad_every == bad_every - 1
            msg = image(ns, rgb, bad)
            writer.write(image_conn, ns + record_delay_ns(i),
                         store.serialize_cdr(msg, msg.__msgtype__))
            if extra is not None:
                writer.write(extra, ns + record_delay_ns(i) + 1,
                             store.serialize_cdr(image(ns, rgb, False), "sensor_msgs/msg/Image"))
            made = depth(i) if depth is not None else None
            if made is not None:
                encoding, arr = made
                arr = np.ascontiguousarray(arr)
                hdr = header(ns)
                hdr.frame_id = depth_frame_id
                msg = T["sensor_msgs/msg/Image"](
                    header=hdr, height=arr.shape[0], width=arr.shape[1], encoding=encoding,
                    is_bigendian=0, step=arr.strides[0], data=arr.view(np.uint8).reshape(-1))
                writer.write(depth_conn, ns + record_delay_ns(i) + 3_000_000,
                             store.serialize_cdr(msg, "sensor_msgs/msg/Image"))
    return topic, stamps
