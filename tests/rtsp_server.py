"""A real RTSP server for the tests: GStreamer's gst-rtsp-server serving a video file as H.264.

Runs under Debian's system Python (``/usr/bin/python3``, which has ``python3-gi``), not the venv:

    /usr/bin/python3 tests/rtsp_server.py --port 8554 --file scene.mp4 [--user U --password P]

serves ``rtsp://127.0.0.1:8554/cam`` and prints ``ready`` on stdout once it listens. Every client
session plays the file from its start in real time, once (H.264 by x264, or H.265 by x265 with
``--codec h265``; a key frame every 10 frames, so a client has a picture within half a second). With ``--user`` and ``--password`` the stream needs
basic authentication. With ``--report-fps N`` the stream's H.264 headers announce N frames a second
while the frames still come at the file's own rate, as from a camera that reports another rate than
it sends.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402 - after require_version, as PyGObject requires

# H.264, as most cameras still send by default, or H.265, as many newer ones do to halve the bandwidth.
_ENCODERS = {
    "h264": "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 bitrate=3000 ! video/x-h264,profile=baseline ! rtph264pay",
    "h265": "x265enc tune=zerolatency speed-preset=ultrafast key-int-max=10 bitrate=3000 ! video/x-h265 ! rtph265pay",
}


def pipeline(path: str, report_fps: int | None = None, codec: str = "h264") -> str:
    # Any container and codec decodebin reads (the tests render MJPEG, which needs no extra plugin set).
    # capssetter changes the rate the caps, and so the encoder's timing headers, announce; the
    # buffers keep their timestamps, so the server still sends them at the file's rate.
    announce = f'! capssetter caps="video/x-raw,framerate={report_fps}/1" ' if report_fps else ""
    return (
        f'( filesrc location="{path}" ! decodebin ! videoconvert ! video/x-raw,format=I420 {announce}'
        f"! {_ENCODERS[codec]} name=pay0 pt=96 config-interval=1 )"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--file", required=True)
    parser.add_argument("--path", default="/cam")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--report-fps", type=int, help="the frame rate the stream announces, whatever it sends")
    parser.add_argument("--codec", choices=sorted(_ENCODERS), default="h264")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(pipeline(args.file, args.report_fps, args.codec))
    factory.set_shared(False)  # each session from the file's start
    factory.set_eos_shutdown(True)
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", args.user)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password or ""), token)
        server.set_auth(auth)
        permissions = Gst.Structure.new_from_string(f"{args.user}, media.factory.access=(boolean)true, media.factory.construct=(boolean)true")
        factory.add_role_from_structure(permissions)
    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        return 1
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    print("ready", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
