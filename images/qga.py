#!/usr/bin/env python3
"""Runs a command in the guest through qemu-guest-agent and prints its stdout.

usage: qga.py SOCKET ping | exec PROGRAM [ARG...] | shutdown
Exit status: the guest command's, or 3 if the agent did not answer.
"""
import base64
import json
import socket
import sys
import time


def call(sock_path, command, arguments=None, timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    # guest-sync flushes anything a previous client left half-read.
    token = int(time.time() * 1000) % 100000
    s.sendall(json.dumps({"execute": "guest-sync", "arguments": {"id": token}}).encode() + b"\n")
    buf = b""
    while True:
        buf += s.recv(65536)
        lines = buf.split(b"\n")
        buf = lines[-1]
        if any(json.loads(l).get("return") == token for l in lines[:-1] if l.strip()):
            break
    msg = {"execute": command}
    if arguments is not None:
        msg["arguments"] = arguments
    s.sendall(json.dumps(msg).encode() + b"\n")
    if command == "guest-shutdown":
        return None
    while b"\n" not in buf:
        buf += s.recv(65536)
    s.close()
    reply = json.loads(buf.split(b"\n")[0])
    if "error" in reply:
        raise RuntimeError(reply["error"])
    return reply["return"]


def main():
    sock, verb, *rest = sys.argv[1:]
    try:
        if verb == "ping":
            call(sock, "guest-ping", timeout=3)
            return 0
        if verb == "shutdown":
            call(sock, "guest-shutdown", {"mode": "powerdown"})
            return 0
        pid = call(sock, "guest-exec", {"path": rest[0], "arg": rest[1:], "capture-output": True})["pid"]
        for _ in range(600):
            status = call(sock, "guest-exec-status", {"pid": pid})
            if status.get("exited"):
                sys.stdout.write(base64.b64decode(status.get("out-data", "")).decode())
                sys.stderr.write(base64.b64decode(status.get("err-data", "")).decode())
                return status.get("exitcode", 1)
            time.sleep(0.1)
        return 3
    except (OSError, RuntimeError, ValueError) as e:
        print(f"qga: {e}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
