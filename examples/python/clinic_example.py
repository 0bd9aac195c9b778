#!/usr/bin/env python3
"""A clinic app in miniature: pick a pen, hold a session, set depth, needle, stop, and
handle a refusal the way a real app must (show it, never retry it deeper).

    python3 examples/python/clinic_example.py --socket $XDG_RUNTIME_DIR/pend/pend.json.sock

Exits 0 when every step behaved as a clinic app expects, 1 otherwise.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pend_client import ApiError, PendClient  # noqa: E402


def main():
    default = os.path.join(os.environ.get("XDG_RUNTIME_DIR", "/run"), "pend", "pend.json.sock")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--socket", default=default, help="pend's JSON socket")
    args = parser.parse_args()

    with PendClient(args.socket) as pend:
        ready = [p for p in pend.list_pens() if not p["problems"]]
        if not ready:
            print("no pen is ready for treatment")
            return 1
        pen = ready[0]["serial"]
        print(f"using pen {pen}")

        with pend.session(pen, "python clinic example") as info:
            print(f"session open, lease {info['lease_ms']} ms")
            done = pend.set_depth(pen, 500)
            print(f"depth {done['depth']} um reached: {done['reached']}")
            pend.start_needling(pen, 120)
            print("needling at 120 strokes/s")
            time.sleep(1.0)  # long enough that only heartbeats keep the session
            try:
                pend.set_depth(pen, 1200)
                print("ERROR: 1.2 mm was accepted")
                return 1
            except ApiError as refusal:
                if not refusal.is_safety_refusal:
                    raise
                print(f"refused as it must be ({refusal.kind}): {refusal.message}")
            pend.stop_needling(pen)
            print("needling stopped")
            status = pend.status(pen)
            if status["setpoint"] != 500 or status["session"] is None:
                print(f"ERROR: unexpected status after the refusal: {status}")
                return 1
        status = pend.status(pen)
        print(f"session closed; pen at {status['depth_um']} um, needling {status['needling']}")
        if status["session"] is not None or status["needling"] is not None:
            print("ERROR: the pen was not released")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
