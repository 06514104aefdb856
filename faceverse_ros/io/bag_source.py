"""Camera images from a recorded rosbag2 bag (sqlite3 or MCAP), without ROS.

`BagSource` reads sensor_msgs/Image or sensor_msgs/CompressedImage from one
topic of a bag directory (metadata.yaml + storage files) or of a single
`.mcap` / `.db3` file, in recorded order, and sensor_msgs/CameraInfo from a
second topic. Each frame's time is its header stamp (the camera's clock at
capture), never the wall clock; a frame whose header stamp is zero falls back
to the time it was recorded, said once.

With a depth topic (a depth image registered to the colour camera, REP-118 16UC1 or 32FC1,
the colour images' frame_id) each frame gets the depth image nearest in stamp within
``depth_slop_s`` (io.depth_input, the node's matching): a colour frame is handed out once
the bag has been read DEPTH_LOOKAHEAD_NS of recording time past it, so a depth image
recorded just after its colour image is found; unusable depth is said once per kind.

Images that cannot be decoded (an unsupported encoding, corrupt data) are
skipped and counted by reason (`skipped`); a bag that cannot be opened or
read on raises BagError with one readable line.
"""
import collections
import dataclasses
import re
from pathlib import Path
from typing import Optional, Tuple

from faceverse_ros.io.bag_types import BagError, typestore
from faceverse_ros.io.image_msgs import (ImageConversionError, compressed_to_rgb, image_to_rgb,
                                          intrinsics_for_image)
from faceverse_ros.io.sources import Frame

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
IMAGE_TYPES = (IMAGE, COMPRESSED)
BAG_FILE_SUFFIXES = (".mcap", ".db3")
DEPTH_LOOKAHEAD_NS = 200_000_000


def is_bag(spec):
    """True for a rosbag2 directory (metadata.yaml or storage files) or a .mcap / .db3 file."""
    path = Path(str(spec))
    if path.is_dir():
        return (path / "metadata.yaml").is_file() or any(
            p.suffix.lower() in BAG_FILE_SUFFIXES for p in path.iterdir())
    return path.suffix.lower() in BAG_FILE_SUFFIXES


@dataclasses.dataclass
class BagFrame(Frame):
    """A Frame with what the bag said about it."""
    header_stamp: Tuple[int, int] = (0, 0)   # (sec, nanosec) of the image header
    frame_id: str = ""
    log_time_ns: int = 0                    # when the recorder received it
    intrinsics: Optional[tuple] = None       # (fx, fy, cx, cy) from the latest CameraInfo
    depth: object = None                     # core.depth.DepthImage matched (depth topic)


def _describe(topics):
    return ", ".join(f"{t} ({m.rsplit('/', 1)[-1]})" for t, m in sorted(topics.items())) or "none"


def _sibling_info_topic(image_topic, info_topics):
    """The CameraInfo topic in the image topic's namespace (/cam/image_raw -> /cam/camera_info)."""
    parent = image_topic.rsplit("/", 1)[0]
    if parent.endswith("/compressed") or image_topic.endswith("/compressed"):
        parent = image_topic.rsplit("/", 2)[0]
    near = [t for t in info_topics if t.rsplit("/", 1)[0] == parent]
    return near[0] if len(near) == 1 else None


class BagSource:
    """Iterable of BagFrames from one image topic of a bag; len() is its message count."""

    kind = "bag"

    def __init__(self, spec, topic=None, camera_info_topic=None, log=print, depth_topic=None,
                 depth_slop_s=0.02):
        from rosbags.rosbag2 import Reader

        self.spec = str(spec)
        self.log = log
        path = Path(self.spec)
        if not path.exists():
            raise BagError(f"bag '{self.spec}' does not exist")
        self.skipped = collections.Counter()
        self.fps = None
        self.depth_topic, self.depth_slop_s, self.depth_input = depth_topic, depth_slop_s, None
        try:
            self._reader = Reader(path)
            self._reader.open()
        except Exception as exc:  # rosbags raises ReaderError, YAML, sqlite and struct errors
            raise BagError(_open_error(self.spec, path, exc)) from None
        try:
            self._select(topic, camera_info_topic)
        except BagError:
            self.close()
            raise

    def _select(self, topic, camera_info_topic):
        topics = {c.topic: c.msgtype for c in self._reader.connections}
        if self.depth_topic is not None and topics.get(self.depth_topic) != IMAGE:
            raise BagError(f"depth topic '{self.depth_topic}' is not a sensor_msgs/Image topic "
                           f"of bag '{self.spec}' (Image topics: "
                           f"{_describe({t: m for t, m in topics.items() if m == IMAGE})})")
        images = {t: m for t, m in topics.items() if m in IMAGE_TYPES and t != self.depth_topic}
        infos = sorted(t for t, m in topics.items() if m == CAMERA_INFO)
        if topic is None:
            if not images:
                raise BagError(f"bag '{self.spec}' has no sensor_msgs/Image or CompressedImage "
                               f"topic (topics: {_describe(topics)})")
            if len(images) > 1:
                raise BagError(f"bag '{self.spec}' has several image topics, choose one with "
                               f"--topic: {_describe(images)}")
            topic = next(iter(images))
        elif topic not in topics:
            raise BagError(f"topic '{topic}' is not in bag '{self.spec}' (image topics: "
                           f"{_describe(images)})")
        elif topic not in images:
            raise BagError(f"topic '{topic}' is {topics[topic]}, not an image (image topics: "
                           f"{_describe(images)})")
        if camera_info_topic is not None:
            if topics.get(camera_info_topic) != CAMERA_INFO:
                raise BagError(f"camera info topic '{camera_info_topic}' is not a "
                               f"sensor_msgs/CameraInfo topic of bag '{self.spec}' (CameraInfo "
                               f"topics: {', '.join(infos) or 'none'})")
        elif len(infos) == 1:
            camera_info_topic = infos[0]
        elif not infos:
            self.log(f"bag '{self.spec}' has no CameraInfo: using default intrinsics (fx = fy = "
                     f"image width, principal point at the centre)")
        else:
            camera_info_topic = _sibling_info_topic(topic, infos)
            if infos and camera_info_topic is None:
                self.log(f"several CameraInfo topics ({', '.join(infos)}) and none beside "
                         f"{topic}: using default intrinsics (choose with --camera-info-topic)")
        self._depth_conns = [c for c in self._reader.connections if c.topic == self.depth_topic]
        self.topic, self.msgtype, self.camera_info_topic = topic, images[topic], camera_info_topic
        self._image_conns = [c for c in self._reader.connections if c.topic == topic]
        self._info_conns = [c for c in self._reader.connections if c.topic == camera_info_topic]
        self._count = sum(c.msgcount for c in self._image_conns)
        duration_s = self._reader.duration * 1e-9
        if self._count > 1 and duration_s > 0:
            self.fps = (self._count - 1) / duration_s

    def __len__(self):
        return self._count

    def close(self):
        reader, self._reader = getattr(self, "_reader", None), None
        if reader is not None and reader.is_open:
            reader.close()

    def __iter__(self):
        if not self._depth_conns:
            yield from self._frames()
            return
        from faceverse_ros.io.depth_input import DepthInput

        say = lambda m: self.log(f"depth on {self.depth_topic}: {m}")  # noqa: E731
        self.depth_input = depth = DepthInput(self.depth_slop_s, 64, warn=say, info=say)
        pending = collections.deque()

        def matched(frame):
            frame.depth = depth.match(frame.stamp, frame.frame_id, 0.0)
            return frame

        for item in self._frames(depth=depth):
            if isinstance(item, BagFrame):
                pending.append(item)
                continue
            while pending and item - pending[0].log_time_ns > DEPTH_LOOKAHEAD_NS:
                yield matched(pending.popleft())
        while pending:
            yield matched(pending.popleft())

    def _frames(self, depth=None):
        """BagFrames in recorded order; with ``depth`` (a DepthInput) the depth messages go
        into it, and the recording time (ns) of every message read is yielded too."""
        store = typestore()
        stem = Path(self.spec.rstrip("/")).stem
        decode = image_to_rgb if self.msgtype == IMAGE else compressed_to_rgb
        info, index, read, seen, warned_zero = self._first_camera_info(), 0, 0, 0, False
        messages = self._reader.messages(connections=self._image_conns + self._info_conns
                                         + self._depth_conns)
        while True:
            try:
                item = next(messages, None)
            except Exception as exc:  # a corrupt chunk or page: nothing after it is readable
                raise BagError(f"bag '{self.spec}' is corrupt after {read} images: "
                               f"{_one_line(exc)}") from None
            if item is None:
                missing = self._count - seen
                if missing > 0:  # listed in the bag's index, never delivered by the storage
                    self.skipped["listed in the bag but unreadable (corrupt storage)"] += missing
                return
            conn, log_time, raw = item
            is_depth = conn.topic == self.depth_topic
            seen += conn.msgtype != CAMERA_INFO and not is_depth
            if depth is not None:
                yield int(log_time)
            try:
                msg = store.deserialize_cdr(raw, conn.msgtype)
            except Exception:
                self.skipped[f"undecodable {conn.msgtype.rsplit('/', 1)[-1]} message"] += 1
                continue
            if is_depth:
                depth.add(msg)
                continue
            if conn.msgtype == CAMERA_INFO:
                info = msg
                continue
            read += 1
            try:
                rgb = decode(msg)
            except ImageConversionError as exc:
                reason = str(exc)
                if not self.skipped[reason]:
                    self.log(f"skipping images on {self.topic}: {reason}")
                self.skipped[reason] += 1
                continue
            stamp = (int(msg.header.stamp.sec), int(msg.header.stamp.nanosec))
            seconds = stamp[0] + stamp[1] * 1e-9
            if stamp == (0, 0):
                if not warned_zero:
                    self.log(f"images on {self.topic} have zero header stamps: using the "
                             f"recorded times")
                    warned_zero = True
                seconds = log_time * 1e-9
            yield BagFrame(index, seconds, rgb, f"{stem}_{index:06d}", header_stamp=stamp,
                           frame_id=msg.header.frame_id, log_time_ns=int(log_time),
                           intrinsics=intrinsics_for_image(info, rgb.shape[1], rgb.shape[0])
                           if info is not None else None)
            index += 1

    def _first_camera_info(self):
        """The first CameraInfo of the bag, so that images recorded just before it (a driver
        publishes the image first) already use its intrinsics."""
        if not self._info_conns:
            return None
        try:
            first = next(self._reader.messages(connections=self._info_conns), None)
            return None if first is None else typestore().deserialize_cdr(first[2],
                                                                          first[0].msgtype)
        except Exception:  # read on without it: the main loop reports a broken bag
            return None


def _open_error(spec, path, exc):
    """One readable line for a bag that rosbags cannot open."""
    text = _one_line(exc)
    unknown = re.search(r"Storage plugin '([^']*)' not supported", text)
    if unknown:
        return (f"bag '{spec}' has the unknown storage id '{unknown.group(1)}' (metadata.yaml); "
                f"readable storages: mcap, sqlite3")
    if path.is_dir() and not (path / "metadata.yaml").is_file():
        return (f"bag folder '{spec}' has no metadata.yaml (a recording that did not finish?): "
                f"give its .mcap or .db3 file itself")
    return f"cannot open bag '{spec}': {text.rstrip('.')} (truncated or corrupt?)"


def _one_line(exc):
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) < 300 else text[:297] + "..."
