"""Inputs and outputs of `faceverse-ros run` beyond the frame loop: choosing the
source (a rosbag2 bag or a video/image/folder/webcam), the output bag, the
header of a frame's output messages, and a Ctrl-C that stops cleanly."""
import signal
import sys


def open_source(args):
    """A rosbag2 bag (directory or .mcap/.db3 file) or one of the FrameSource inputs."""
    from faceverse_ros.io.bag_source import BagSource, is_bag
    from faceverse_ros.io.sources import FrameSource, SourceError

    depth_topic = getattr(args, "depth_topic", None)
    if is_bag(args.input):
        return BagSource(args.input, args.topic, args.camera_info_topic,
                         log=lambda m: print(f"[run] {m}", file=sys.stderr),
                         depth_topic=depth_topic, depth_slop_s=getattr(args, "depth_slop", 0.02))
    if args.topic or args.camera_info_topic or depth_topic:
        raise SourceError("--topic, --camera-info-topic and --depth-topic need a bag input (a "
                          "rosbag2 folder or a .mcap/.db3 file)")
    return FrameSource(args.input)


def open_output_bag(args):
    from faceverse_ros.io.face_ids import resolve_prefix
    from faceverse_ros.io.bag_writer import BagWriter

    prefix = resolve_prefix(args.face_id_prefix, "/")  # ValueError: one line from main()
    return BagWriter(args.output_bag, args.storage, debug_image=args.bag_debug_image,
                     mesh=args.bag_mesh, id_prefix=prefix)


def frame_header(frame, frame_id):
    """(sec, nanosec), frame_id and record time (ns) for a frame's output messages: a bag
    frame's own header and record time, else the frame's time on `frame_id`."""
    if hasattr(frame, "header_stamp"):
        return frame.header_stamp, frame.frame_id, frame.log_time_ns
    ns = int(round(frame.stamp * 1e9))
    return (ns // 1_000_000_000, ns % 1_000_000_000), frame_id, ns


class StopOnSigint:
    """From construction until restore(), Ctrl-C asks the frame loop to stop after the
    current frame (`requested`), so that every output (overlay video, output bag) is closed
    properly; a second Ctrl-C interrupts at once (KeyboardInterrupt)."""

    def __init__(self):
        self.requested, self._old = False, None
        try:
            self._old = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: keep Python's KeyboardInterrupt
            pass

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def restore(self):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
            self._old = None
