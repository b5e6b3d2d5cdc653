#!/usr/bin/env python3
"""Power cuts of a booted edgeserve image: the driver behind images/power-cut.sh.

usage: power_cut.py --root IMG --data IMG --kernel VMLINUZ --cacert PEM --work DIR
                    [--cuts N] [--seed S] [--min-stream S] [--max-stream S]

Boots qemu (TCG) with the root disk and the state on a separate data disk (both cache=none),
streams control-plane writes through the guest agent (the real `edgeserve` CLI inside the box,
as root), records each acknowledgement on the host (journal.jsonl in --work), and kill -9s qemu
at a random moment. Boots again and checks: every acknowledged write is there and every
acknowledged delete absent, the one write in flight is there entirely or not at all, each
endpoint with a deployment scores (HTTPS through a forwarded port) with its latest key and
refuses a replaced one. Prints one summary line; exits 1 on any violation.
"""
import argparse
import base64
import http.client
import json
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

MAX_ENDPOINTS = 2
BODY = json.dumps({"data": [[0.5, 0.1, -0.3, 2.0]]})


class Killed(Exception):
    """The box lost power under a call."""


class Agent:
    """A persistent connection to qemu-guest-agent over the host's chardev socket."""

    def __init__(self, path, deadline):
        self.path = path
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(3)
                self.sock.connect(path)
                self.buf = b""
                self.sync()
                self.sock.settimeout(60)
                return
            except (OSError, ValueError):
                self.sock.close()
                if time.time() > deadline:
                    raise
                time.sleep(1)

    def _line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("guest agent socket closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line) if line.strip() else None

    def sync(self):
        token = random.randrange(1, 1 << 30)
        self.sock.sendall(json.dumps({"execute": "guest-sync", "arguments": {"id": token}}).encode() + b"\n")
        while True:
            reply = self._line()
            if reply and reply.get("return") == token:
                return

    def call(self, command, arguments=None):
        msg = {"execute": command}
        if arguments is not None:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._line()
            if reply is None:
                continue
            if "error" in reply:
                raise RuntimeError(f"{command}: {reply['error']}")
            return reply["return"]

    def exec(self, argv, timeout=300):
        pid = self.call("guest-exec", {"path": argv[0], "arg": argv[1:], "capture-output": True})["pid"]
        end = time.time() + timeout
        while time.time() < end:
            st = self.call("guest-exec-status", {"pid": pid})
            if st.get("exited"):
                out = base64.b64decode(st.get("out-data", "")).decode()
                err = base64.b64decode(st.get("err-data", "")).decode()
                return st.get("exitcode", 1), out, err
            time.sleep(0.02)
        raise TimeoutError(f"{argv} did not finish in {timeout}s")

    def cli(self, *args):
        rc, out, err = self.exec(["/usr/bin/edgeserve", *args])
        if rc != 0:
            raise RuntimeError(f"edgeserve {' '.join(args)}: exit {rc}: {err.strip()}")
        return json.loads(out)


# The journal's model of the control plane: endpoints (key, deployments, replaced key) and role
# assignments (assignee -> [id or None, scope]). Keys: ("known", k), ("not", old), ("unknown",).
def empty_world():
    return {"endpoints": {}, "assignments": {}}


def copy(world):
    return json.loads(json.dumps(world))


def apply(op, world):
    w = copy(world)
    kind, name = op["kind"], op.get("endpoint")
    eps = w["endpoints"]
    if kind == "create-endpoint":
        eps[name] = {"key": ["unknown"], "deployments": [], "replaced": None}
    elif kind == "delete-endpoint":
        del eps[name]
        w["assignments"] = {a: v for a, v in w["assignments"].items() if v[1] != f"/endpoints/{name}"}
    elif kind == "regenerate-key":
        if eps[name]["key"][0] == "known":
            eps[name]["replaced"] = eps[name]["key"][1]
            eps[name]["key"] = ["not", eps[name]["key"][1]]
    elif kind == "create-deployment":
        eps[name]["deployments"] = sorted(set(eps[name]["deployments"]) | {op["deployment"]})
    elif kind == "delete-deployment":
        eps[name]["deployments"] = [d for d in eps[name]["deployments"] if d != "green"]
    elif kind == "assign":
        w["assignments"][op["assignee"]] = [None, op["scope"]]
    elif kind == "unassign":
        del w["assignments"][op["assignee"]]
    return w


def cli_args(op):
    kind, name = op["kind"], op.get("endpoint")
    if kind == "create-endpoint":
        return ["endpoint", "create", "-n", name]
    if kind == "delete-endpoint":
        return ["endpoint", "delete", "-n", name]
    if kind == "regenerate-key":
        return ["endpoint", "regenerate-keys", "-n", name, "--key-type", "primary"]
    if kind == "create-deployment":
        extra = ["--all-traffic"] if op["deployment"] == "blue" else []
        return ["deployment", "create", "-n", op["deployment"], "-e", name, "--model", "mlp:1", *extra]
    if kind == "delete-deployment":
        return ["deployment", "delete", "-n", "green", "-e", name]
    if kind == "assign":
        return ["role", "assignment", "create", "--assignee", op["assignee"], "--role", "Reader", "--scope", op["scope"]]
    return ["role", "assignment", "delete", "--id", op["id"]]


def choose(rng, w, serial):
    names = sorted(w["endpoints"])
    while True:
        r = rng.randrange(8)
        if r == 0 and len(names) < MAX_ENDPOINTS:
            return {"kind": "create-endpoint", "endpoint": f"pc{serial}"}
        if r == 1 and len(names) == MAX_ENDPOINTS:
            return {"kind": "delete-endpoint", "endpoint": rng.choice(names)}
        if r in (2, 3) and names:
            n = rng.choice(names)
            if w["endpoints"][n]["key"][0] == "known":
                return {"kind": "regenerate-key", "endpoint": n}
        if r == 4 and names:
            n = rng.choice(names)
            deps = w["endpoints"][n]["deployments"]
            if "blue" not in deps:
                return {"kind": "create-deployment", "endpoint": n, "deployment": "blue"}
            if "green" in deps:
                return {"kind": "delete-deployment", "endpoint": n}
            return {"kind": "create-deployment", "endpoint": n, "deployment": "green"}
        if r in (5, 6):
            scope = "/" if not names or rng.randrange(3) == 0 else f"/endpoints/{rng.choice(names)}"
            return {"kind": "assign", "assignee": f"unix-user:pc{serial}", "scope": scope}
        if r == 7:
            known = sorted((a, v[0]) for a, v in w["assignments"].items() if v[0])
            if known:
                a, i = rng.choice(known)
                return {"kind": "unassign", "assignee": a, "id": i}


def read_actual(agent):
    """The box's state: {name: (primary key, deployments)} and {assignee: (id, scope)}."""
    eps = {}
    for e in agent.cli("endpoint", "list"):
        name = e["name"]
        if not name.startswith("pc"):
            continue  # the image's own declared endpoint
        key = agent.cli("endpoint", "get-credentials", "-n", name)["primaryKey"]
        deps = sorted(d["name"] for d in agent.cli("deployment", "list", "-e", name))
        eps[name] = (key, deps)
    assignments = {a["assignee"]: (a["id"], a["scope"]) for a in agent.cli("role", "assignment", "list")
                   if not a.get("builtIn") and a["assignee"].startswith("unix-user:pc")}
    return eps, assignments


def compare(w, actual):
    eps, assignments = actual
    if sorted(w["endpoints"]) != sorted(eps):
        return f"endpoints {sorted(eps)}, expected {sorted(w['endpoints'])}"
    for name, e in w["endpoints"].items():
        key, deps = eps[name]
        if e["key"][0] == "known" and e["key"][1] != key:
            return f"{name}: not the acknowledged key"
        if e["key"][0] == "not" and e["key"][1] == key:
            return f"{name}: the replaced key is back"
        if sorted(e["deployments"]) != deps:
            return f"{name}: deployments {deps}, expected {sorted(e['deployments'])}"
    if sorted(w["assignments"]) != sorted(assignments):
        return f"role assignments {sorted(assignments)}, expected {sorted(w['assignments'])}"
    for a, (i, scope) in w["assignments"].items():
        if (i and i != assignments[a][0]) or scope != assignments[a][1]:
            return f"{a}: {assignments[a]}, expected {i} at {scope}"
    return None


def rebase(actual):
    eps, assignments = actual
    return {
        "endpoints": {n: {"key": ["known", k], "deployments": d, "replaced": None} for n, (k, d) in eps.items()},
        "assignments": {a: [i, s] for a, (i, s) in assignments.items()},
    }


def score(port, cacert, endpoint, key):
    ctx = ssl.create_default_context(cafile=cacert)
    conn = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=120)
    try:
        conn.request("POST", f"/api/v1/service/{endpoint}/score", BODY,
                     {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Box:
    def __init__(self, args, boot):
        self.work = args.work
        self.qga = os.path.join(args.work, f"qga-{boot}.sock")
        self.port = free_port()
        self.serial = os.path.join(args.work, f"serial-{boot}.log")
        cmd = [
            "qemu-system-x86_64", "-nodefaults", "-machine", "q35", "-accel", "tcg", "-cpu", "max",
            "-smp", "2", "-m", "1536", "-display", "none", "-serial", f"file:{self.serial}",
            "-kernel", args.kernel, "-append", "root=/dev/nvme0n1 rw console=ttyS0 panic=-1",
            "-drive", f"file={args.root},if=none,id=root,format=raw,cache=none",
            "-device", "nvme,drive=root,serial=edgeserve",
            "-drive", f"file={args.data},if=none,id=data,format=raw,cache=none",
            "-device", "virtio-blk-pci,drive=data",
            "-netdev", f"user,id=net0,hostfwd=tcp:127.0.0.1:{self.port}-:8443",
            "-device", "virtio-net-pci,netdev=net0",
            "-device", "virtio-serial-pci",
            "-chardev", f"socket,path={self.qga},server=on,wait=off,id=qga0",
            "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
            "-no-reboot",
        ]
        self.started = time.time()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
        deadline = time.time() + 600
        while not os.path.exists(self.qga):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("qemu did not start")
            time.sleep(0.1)
        self.agent = Agent(self.qga, deadline)
        while True:
            rc, out, _ = self.agent.exec(["/bin/systemctl", "is-active", "edgeserved.service"])
            if out.strip() == "active":
                break
            if out.strip() == "failed" or time.time() > deadline:
                _, log, _ = self.agent.exec(["/bin/journalctl", "-u", "edgeserved", "--no-pager", "-n", "40"])
                raise RuntimeError(f"edgeserved is {out.strip()}:\n{log}")
            time.sleep(0.5)
        self.ready = time.time() - self.started

    def cut(self):
        os.kill(self.proc.pid, signal.SIGKILL)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        try:
            self.agent.sock.close()
        except OSError:
            pass


def main():
    p = argparse.ArgumentParser()
    for a in ("--root", "--data", "--kernel", "--cacert", "--work"):
        p.add_argument(a, required=True)
    p.add_argument("--cuts", type=int, default=5)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--min-stream", type=float, default=1.0)
    p.add_argument("--max-stream", type=float, default=12.0)
    args = p.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    rng = random.Random(seed)
    print(f"power-cut: seed {seed} (--seed {seed} replays the schedule), {args.cuts} cuts", flush=True)
    journal = open(os.path.join(args.work, "journal.jsonl"), "a")
    began = time.time()
    world = empty_world()
    serial = 0
    acked = applied = absent = stale = 0
    violations = []
    reference = None
    boots = []
    box = Box(args, 0)
    boots.append(box.ready)
    for cut in range(args.cuts + 1):
        if cut > 0:
            box = Box(args, cut)
            boots.append(box.ready)
            actual = read_actual(box.agent)
            problem = compare(before, actual)
            if problem and in_flight:
                problem2 = compare(in_flight[1], actual)
                if problem2 is None:
                    applied += 1
                    problem = None
                else:
                    problem = f"neither before nor after the in-flight {in_flight[0]}: {problem}; after it: {problem2}"
            elif in_flight:
                absent += 1
            if problem:
                violations.append(f"cut {cut}: {problem}")
            for name, (key, deps) in sorted(actual[0].items()):
                if "blue" not in deps:
                    continue
                status, text = score(box.port, args.cacert, name, key)
                if status != 200:
                    violations.append(f"cut {cut}: {name} scored {status}: {text}")
                    continue
                if reference is None:
                    reference = text
                elif text != reference:
                    violations.append(f"cut {cut}: {name} answered {text}, not {reference}")
                olds = {w["endpoints"].get(name, {}).get("replaced") for w in (before, (in_flight or (0, before))[1])}
                for old in sorted(o for o in olds if o and o != key):
                    stale += 1
                    status, _ = score(box.port, args.cacert, name, old)
                    if status != 401:
                        violations.append(f"cut {cut}: {name}'s replaced key got {status}")
            world = rebase(actual)
            print(f"power-cut: boot {cut}: ready in {boots[-1]:.0f}s, state {'OK' if not problem else 'VIOLATION'}"
                  f", in flight: {in_flight[0]['kind'] if in_flight else 'none'}", flush=True)
        if cut == args.cuts:
            break
        # Stream writes until the power goes.
        killed = threading.Event()
        delay = rng.uniform(args.min_stream, args.max_stream)

        def power_off():
            killed.set()
            box.cut()

        timer = threading.Timer(delay, power_off)
        in_flight = None
        count = 0
        timer.start()
        try:
            while True:
                op = choose(rng, world, serial)
                serial += 1
                post = apply(op, world)
                in_flight = (op, post)
                try:
                    answer = box.agent.cli(*cli_args(op))
                    if op["kind"] in ("create-endpoint", "regenerate-key"):
                        try:
                            key = box.agent.cli("endpoint", "get-credentials", "-n", op["endpoint"])["primaryKey"]
                            post["endpoints"][op["endpoint"]]["key"] = ["known", key]
                        except Exception:
                            if not killed.is_set():
                                raise
                    if op["kind"] == "assign":
                        post["assignments"][op["assignee"]][0] = answer["id"]
                except Exception as e:
                    if killed.is_set():
                        break
                    raise RuntimeError(f"write {op} failed with the box up: {e}")
                world, in_flight = post, None
                acked += 1
                count += 1
                journal.write(json.dumps({"cut": cut, "acknowledged": op}) + "\n")
                journal.flush()
                if killed.is_set():
                    break
        finally:
            timer.join()
        before = world
        journal.write(json.dumps({"cut": cut, "power_cut_after_s": round(delay, 2), "in_flight": in_flight and in_flight[0]}) + "\n")
        journal.flush()
        box.close()
        print(f"power-cut: cut {cut + 1}/{args.cuts} after {delay:.1f}s of streaming, {count} writes acknowledged",
              flush=True)
    box.close()
    total = time.time() - began
    print(f"power-cut: seed {seed}: {args.cuts} power cuts, {acked} acknowledged writes, in-flight write present after "
          f"{applied} and absent after {absent} boots, {stale} replaced keys refused, {len(violations)} violations; "
          f"boot to ready {min(boots):.0f}-{max(boots):.0f}s, {total:.0f}s in all ({total / max(args.cuts, 1):.0f}s per cut)")
    for v in violations:
        print(f"power-cut: VIOLATION {v}", file=sys.stderr)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
