"""Drives a chamlab kernel through jupyter_client, for tests that need what nbconvert cannot do:
see every iopub message of a cell (display_data, update_display_data, stream) and interrupt the
kernel in the middle of a cell, as Jupyter's stop button does.

stdin: {"cwd": DIR, "out": FILE, "cells": [{"code": STR, "timeout": S, "interrupt_when": SUBSTRING}]}
  interrupt_when: interrupt the kernel at the first display message of that cell whose content
  contains SUBSTRING.
FILE (the kernel shares our stdout): [{"messages": [{"type": T, "content": C}, ...], "reply": EXECUTE_REPLY_CONTENT}, ...]
Long strings in message contents (the inlined plotly.js bundle) are cut to 2000 characters.
"""
import json
import queue
import sys
import time

from jupyter_client.manager import start_new_kernel


def shorten(v):
    if isinstance(v, str):
        return v if len(v) <= 2000 else v[:2000] + "...[%d chars]" % len(v)
    if isinstance(v, list):
        return [shorten(x) for x in v]
    if isinstance(v, dict):
        return {k: shorten(x) for k, x in v.items()}
    return v


def main():
    spec = json.load(sys.stdin)
    km, kc = start_new_kernel(kernel_name="chamlab", cwd=spec["cwd"], startup_timeout=120)
    results = []
    try:
        for cell in spec["cells"]:
            msg_id = kc.execute(cell["code"])
            deadline = time.time() + cell.get("timeout", 300)
            messages = []
            interrupted = False
            while True:
                try:
                    m = kc.get_iopub_msg(timeout=1)
                except queue.Empty:
                    if time.time() > deadline:
                        raise TimeoutError("cell timed out: " + cell["code"][:80])
                    continue
                if m["parent_header"].get("msg_id") != msg_id:
                    continue
                t = m["msg_type"]
                messages.append({"type": t, "content": shorten(m["content"]), "time": time.time()})
                want = cell.get("interrupt_when")
                if want and not interrupted and t in ("display_data", "update_display_data") and want in json.dumps(m["content"]):
                    km.interrupt_kernel()
                    interrupted = True
                    messages.append({"type": "(interrupt sent)", "content": {}, "time": time.time()})
                if t == "status" and m["content"]["execution_state"] == "idle":
                    break
            while True:
                reply = kc.get_shell_msg(timeout=60)
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            results.append({"messages": messages, "reply": reply["content"]})
            # tslab drops requests that arrive within 200 ms of a failed cell.
            if reply["content"].get("status") == "error":
                time.sleep(0.5)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    with open(spec["out"], "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
