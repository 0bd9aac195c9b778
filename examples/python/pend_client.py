"""A small client for pend's JSON socket, standard library only.

pend serves newline-delimited JSON on its second socket (pend.json.sock beside pend.sock):
one request per line in, one frame per line out. docs/api.md describes every message.

    with PendClient("/run/user/1000/pend/pend.json.sock") as pend:
        pens = pend.list_pens()
        with pend.session("SIM-0001", "my app"):      # heartbeats run in the background
            pend.set_depth("SIM-0001", 500)
            pend.start_needling("SIM-0001", 120)
            pend.stop_needling("SIM-0001")
        # leaving the block closes the session: pend stops and retracts the pen

If this program dies, its connection closes and pend retracts the pen on its own.
"""

import json
import socket
import threading
from collections import deque
from contextlib import contextmanager

SAFETY_KINDS = {"OverCeiling", "NotCalibrated", "OutsideCalibratedRange", "FirmwareLimit"}


class ApiError(Exception):
    """pend refused or failed a request. `kind` is for programs, the message for people."""

    def __init__(self, kind, message, problems=()):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.problems = list(problems)

    @property
    def is_safety_refusal(self):
        return self.kind in SAFETY_KINDS


class PendClient:
    """One connection to pend's JSON socket. Thread-safe: one request at a time."""

    def __init__(self, path, timeout=15.0):
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        self._sock.connect(path)
        self._file = self._sock.makefile("rwb")
        self._lock = threading.Lock()
        self._next_id = 1
        self.events = deque(maxlen=1024)  # events that arrived between replies
        self._beat = None

    def close(self):
        self._stop_heartbeats()
        self._file.close()
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def call(self, request):
        """Sends one request (a dict or a bare name) and returns the Ok value."""
        with self._lock:
            request_id = self._next_id
            self._next_id += 1
            line = json.dumps({"id": request_id, "request": request}) + "\n"
            self._file.write(line.encode())
            self._file.flush()
            while True:
                raw = self._file.readline()
                if not raw:
                    raise ConnectionError("pend closed the connection")
                frame = json.loads(raw)
                if "Event" in frame:
                    self.events.append(frame["Event"])
                    continue
                reply = frame["Reply"]
                if reply["id"] not in (request_id, 0):
                    raise ConnectionError(f"reply {reply['id']} while waiting for {request_id}")
                result = reply["result"]
                if "Err" in result:
                    error = result["Err"]
                    raise ApiError(error["kind"], error["message"], error.get("problems", ()))
                return result["Ok"]

    def list_pens(self):
        return self.call("ListPens")["Pens"]

    def status(self, pen):
        return self.call({"PenStatus": {"pen": pen}})["PenStatus"]

    def open_session(self, pen, client_name, wait_ms=0):
        return self.call(
            {"OpenSession": {"pen": pen, "client_name": client_name, "wait_ms": wait_ms}}
        )["SessionOpened"]

    def close_session(self, pen):
        self.call({"CloseSession": {"pen": pen}})

    def heartbeat(self):
        self.call("Heartbeat")

    def set_depth(self, pen, depth_um, wait=True):
        return self.call(
            {"SetDepth": {"pen": pen, "depth_um": int(depth_um), "wait": wait}}
        )["DepthSet"]

    def start_needling(self, pen, strokes_per_s):
        self.call({"StartNeedling": {"pen": pen, "strokes_per_s": int(strokes_per_s)}})

    def stop_needling(self, pen):
        self.call({"StopNeedling": {"pen": pen}})

    def identify(self, pen):
        self.call({"Identify": {"pen": pen}})

    @contextmanager
    def session(self, pen, client_name, wait_ms=0):
        """Holds a treatment session, heartbeating in the background, closed on exit."""
        info = self.open_session(pen, client_name, wait_ms)
        self._start_heartbeats(info["lease_ms"] / 3000.0)
        try:
            yield info
        finally:
            self._stop_heartbeats()
            self.close_session(info["serial"])

    def _start_heartbeats(self, every_s):
        stop = threading.Event()

        def beat():
            while not stop.wait(every_s):
                try:
                    self.heartbeat()
                except (ApiError, OSError):
                    return

        thread = threading.Thread(target=beat, daemon=True)
        thread.start()
        self._beat = (stop, thread)

    def _stop_heartbeats(self):
        if self._beat:
            stop, thread = self._beat
            stop.set()
            thread.join()
            self._beat = None
