"""The detached process that runs one fire: ``python -m stackyard.triggers._launch ID``.

It claims the fire first (``Pending -> Running``, one conditional UPDATE): if the loop that
spawned it was killed and another loop spawned a second launcher, exactly one of them
claims and the other exits. Then it runs the target to the end and records how it ended.
A launcher killed mid-run leaves its fire ``Running`` with a dead pid; the loop records it
``Failed`` (it is never started twice: the run can be resumed by hand).
"""

from __future__ import annotations

import os
import sys
import traceback


def main(fid: int) -> int:
    from stackyard.runtime import process_start_time
    from stackyard.store import open_store
    from stackyard.triggers import _targets

    store = open_store()
    if not store.claim_fire(fid, os.getpid(), process_start_time(os.getpid())):
        return 0  # someone else started it
    fire = store.get_fire(fid)
    assert fire is not None
    print(f"fire {fid}: {fire['source']} {fire['owner']} -> "
          f"{_targets.describe(fire['target'])}", flush=True)

    def on_start(detail: dict) -> None:
        store.update_fire_detail(fid, {**fire["detail"], **detail})

    try:
        status, reason, detail = _targets.run(fire["target"], fire["params"], fire, on_start)
    except Exception as e:  # noqa: BLE001 - any failure of the target is the fire's failure
        traceback.print_exc()
        store.finish_fire(fid, "Failed", f"{type(e).__name__}: {e}")
        return 1
    store.finish_fire(fid, status, reason, {**fire["detail"], **detail})
    print(f"fire {fid}: {status}" + (f": {reason}" if reason else ""), flush=True)
    return 0 if status == "Succeeded" else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
