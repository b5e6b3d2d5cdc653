#!/usr/bin/env python3
"""The issue-18 benchmark, driven by bench/run.sh once the release binaries are built.

Measures on this machine, in one run: the compute floor (tract in-process), the do-nothing
HTTPS server (null-https), edgeserve (seed JSON, OIP JSON, OIP binary; batching off and on),
the CNN example with batching on and off, server CPU µs per request (/proc/PID/stat), idle RSS
with one model, start to ready, and the stripped edgeserved size. Prints a table of ratios and
writes bench/results/latest.json. Standard library only.

Usage: run.py BIN_DIR [--quick]
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import ssl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = sys.argv[1]
QUICK = "--quick" in sys.argv[2:]
CONCURRENCY = [1, 8, 32] if not QUICK else [1, 32]
DURATION = "1s" if QUICK else "8s"
WARM = "300ms" if QUICK else "2s"
TICK = os.sysconf("SC_CLK_TCK")


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def make_pki(d):
    """A CA and an ECDSA P-256 leaf for localhost, as an operator would install them."""
    o = lambda *a: run(["openssl", *a], cwd=d)
    o("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key")
    o("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=edgeserve bench CA", "-days", "2",
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
      "-out", "ca.pem")
    o("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "key.pem")
    o("req", "-new", "-key", "key.pem", "-subj", "/CN=localhost", "-out", "leaf.csr")
    with open(os.path.join(d, "leaf.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
    o("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
      "-days", "2", "-extfile", "leaf.ext", "-out", "leaf.pem")
    with open(os.path.join(d, "cert.pem"), "w") as f:
        f.write(open(os.path.join(d, "leaf.pem")).read() + open(os.path.join(d, "ca.pem")).read())


def config(d, deployments):
    """A config serving each (endpoint, model dir, max_batch_size) on its own endpoint."""
    text = f"""[daemon]
state_dir = "{d}/state"
control_socket = "{d}/control.sock"
[tls]
listen = ["127.0.0.1:0"]
cert_pem = "{d}/pki/cert.pem"
key_pem = "{d}/pki/key.pem"
cname = "localhost"
[plain]
listen = ["127.0.0.1:0"]
[metrics]
listen = "127.0.0.1:0"
"""
    for name, model, batch in deployments:
        text += f"""[[model]]
name = "{name}"
version = "1"
path = "{model}"
[[endpoint]]
name = "{name}"
traffic = {{ blue = 100 }}
[[deployment]]
name = "blue"
endpoint = "{name}"
model = "{name}:1"
max_batch_size = {batch}
"""
    path = os.path.join(d, "edgeserve.toml")
    with open(path, "w") as f:
        f.write(text)
    return path


class Daemon:
    def __init__(self, d, deployments):
        shutil.rmtree(os.path.join(d, "state"), ignore_errors=True)
        os.makedirs(os.path.join(d, "creds"), exist_ok=True)
        self.dir = d
        cfg = config(d, deployments)
        env = dict(os.environ, CREDENTIALS_DIRECTORY=os.path.join(d, "creds"))
        self.log = open(os.path.join(d, "daemon.log"), "w")
        start = time.monotonic()
        self.proc = subprocess.Popen([os.path.join(BIN, "edgeserved"), "--config", cfg],
                                     stdout=subprocess.DEVNULL, stderr=self.log, env=env)
        self.port = None
        while time.monotonic() - start < 120:
            if self.proc.poll() is not None:
                sys.exit(f"edgeserved exited: see {self.log.name}")
            if self.port is None:
                self.port = self._tls_port()
            if self.port and self._ready():
                break
            time.sleep(0.005)
        else:
            sys.exit("edgeserved did not become ready within 120 s")
        self.ready_seconds = time.monotonic() - start

    def _tls_port(self):
        with open(self.log.name) as f:
            for line in f:
                if "listening" in line and "transport=Tls" in line:
                    return int(line.split("listen=")[1].split()[0].rsplit(":", 1)[1])
        return None

    def _ready(self):
        ctx = ssl.create_default_context(cafile=os.path.join(self.dir, "pki", "ca.pem"))
        try:
            url = f"https://localhost:{self.port}/v2/health/ready"
            return urllib.request.urlopen(url, context=ctx, timeout=1).status == 200
        except Exception:
            return False

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def bench(url, request, concurrency, pid, key=None, ca=None, socket=None):
    """A warm-up run, then a measured one with the server's CPU time around it."""
    args = [os.path.join(BIN, "edgeserve")]
    if socket:
        args += ["--socket", socket]
    args += ["bench", "--url", url, "-r", request, "-c", str(concurrency), "--json"]
    args += ["--cacert", ca] if ca else ["--insecure"]
    env = dict(os.environ)
    if key:
        env["EDGESERVE_KEY"] = key
    run(args + ["--duration", WARM], env=env)
    before = cpu_seconds(pid)
    report = json.loads(run(args + ["--duration", DURATION], env=env).stdout)
    spent = cpu_seconds(pid) - before
    n = max(report["requests"], 1)
    return {
        "concurrency": concurrency,
        "rps": report["requestsPerSecond"],
        "p50": report["latencyMicros"]["p50"],
        "p99": report["latencyMicros"]["p99"],
        "p999": report["latencyMicros"]["p999"],
        "errors": report["errors"]["total"],
        "cpuMicrosPerRequest": spent * 1e6 / n,
    }


def main():
    work = tempfile.mkdtemp(prefix="edgeserve-bench-")
    inputs = os.path.join(work, "inputs")
    run([sys.executable, os.path.join(ROOT, "bench", "make_inputs.py"), inputs])
    os.makedirs(os.path.join(work, "pki"))
    make_pki(os.path.join(work, "pki"))
    ca = os.path.join(work, "pki", "ca.pem")
    mlp, cnn = os.path.join(inputs, "mlp784"), os.path.join(ROOT, "models", "cnn")
    results = {"quick": QUICK, "duration": DURATION, "machine": os.uname().machine,
               "cpus": os.cpu_count()}

    print("compute floor (tract, in-process) ...", file=sys.stderr)
    floor = {}
    for name, path in [("mlp784", mlp), ("cnn", cnn)]:
        for batch in [1, 32]:
            out = run([os.path.join(BIN, "compute-floor"), path, str(batch),
                       "0.5" if QUICK else "2"]).stdout
            floor[f"{name}/{batch}"] = json.loads(out)["microsPerRow"]
    results["computeFloorMicrosPerRow"] = floor

    print("idle RSS and start to ready, one model ...", file=sys.stderr)
    d = Daemon(work, [("mlp", mlp, 1)])
    time.sleep(1)
    results["startToReadySeconds"] = round(d.ready_seconds, 3)
    results["idleRssKiB"] = rss_kib(d.proc.pid)
    d.stop()

    print("do-nothing HTTPS server ...", file=sys.stderr)
    answer = os.path.join(work, "answer.json")
    with open(answer, "w") as f:
        json.dump({"result": [[0.12345678] * 10]}, f)
    null = subprocess.Popen([os.path.join(BIN, "null-https"), "--answer-file", answer],
                            stdout=subprocess.PIPE, text=True)
    port = int(null.stdout.readline().split(":")[-1])
    seed = os.path.join(inputs, "mlp784-seed.json")
    results["null"] = [bench(f"https://127.0.0.1:{port}/score", seed, c, null.pid)
                       for c in CONCURRENCY]
    null.terminate()
    null.wait()

    print("edgeserve ...", file=sys.stderr)
    d = Daemon(work, [("mlp", mlp, 1), ("mlpb", mlp, 32), ("cnn", cnn, 1), ("cnnb", cnn, 32)])
    sock = os.path.join(work, "control.sock")
    creds = lambda n: json.loads(run([os.path.join(BIN, "edgeserve"), "--socket", sock,
                                      "endpoint", "get-credentials", "-n", n]).stdout)["primaryKey"]
    base = f"https://localhost:{d.port}"
    cases = {}
    for endpoint, batching in [("mlp", "off"), ("mlpb", "on")]:
        key = creds(endpoint)
        for body, route, file in [
            ("seed", f"/api/v1/service/{endpoint}/score", "mlp784-seed.json"),
            ("oip-json", f"/v2/models/{endpoint}/infer", "mlp784-oip.json"),
            ("oip-binary", f"/v2/models/{endpoint}/infer", "mlp784-oip.bin"),
        ]:
            label = f"mlp784 {body} batching {batching}"
            print(f"  {label}", file=sys.stderr)
            cases[label] = [bench(base + route, os.path.join(inputs, file), c, d.proc.pid, key, ca)
                            for c in CONCURRENCY]
    # A 64-row request (flat data, as tritonclient writes it): OIP JSON against binary tensors.
    key = creds("mlp")
    for body, file in [("oip-json", "mlp784-b64-oip.json"), ("oip-binary", "mlp784-b64-oip.bin")]:
        label = f"mlp784 {body} 64 rows"
        print(f"  {label}", file=sys.stderr)
        cases[label] = [bench(f"{base}/v2/models/mlp/infer", os.path.join(inputs, file), 8,
                              d.proc.pid, key, ca)]
    for endpoint, batching in [("cnn", "off"), ("cnnb", "on")]:
        label = f"cnn seed batching {batching}"
        print(f"  {label}", file=sys.stderr)
        cases[label] = [bench(f"{base}/api/v1/service/{endpoint}/score",
                              os.path.join(inputs, "cnn-seed.json"), 32, d.proc.pid,
                              creds(endpoint), ca)]
    d.stop()
    results["edgeserve"] = cases

    stripped = os.path.join(work, "edgeserved.stripped")
    run(["strip", "-o", stripped, os.path.join(BIN, "edgeserved")])
    results["edgeservedStrippedBytes"] = os.path.getsize(stripped)
    # The profile boxes are flashed with (Cargo.toml [profile.dist]; bench/run.sh builds it).
    dist = os.environ.get("DIST_BIN") or os.path.join(ROOT, "target", "dist", "edgeserved")
    if os.path.exists(dist):
        results["edgeservedDistBytes"] = os.path.getsize(dist)

    report(results)
    out_dir = os.path.join(ROOT, "bench", "results")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "latest.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(f"\nwritten: {os.path.join(out_dir, 'latest.json')}")
    shutil.rmtree(work, ignore_errors=True)


def report(r):
    null = {n["concurrency"]: n for n in r["null"]}
    floor = r["computeFloorMicrosPerRow"]
    print(f"\ncompute floor µs/row: " + ", ".join(f"{k} {v:.1f}" for k, v in floor.items()))
    print("null-https: " + ", ".join(
        f"c={n['concurrency']} {n['rps']:.0f} req/s {n['cpuMicrosPerRequest']:.1f} µs CPU/req"
        for n in r["null"]))
    print(f"\n{'case':<32} {'c':>3} {'req/s':>8} {'p50µs':>7} {'p99µs':>7} {'CPUµs':>7} "
          f"{'÷null rps':>9} {'×null CPU':>9} {'×floor':>7}")
    for label, rows in r["edgeserve"].items():
        model = label.split()[0]
        batch = 32 if label.endswith("on") or label.endswith("64 rows") else 1
        # The floor of one request: its rows at the floor's per-row cost.
        rows_per_request = 64 if label.endswith("64 rows") else 1
        floor_us = floor[f"{model}/{batch}"] * rows_per_request
        for row in rows:
            c = row["concurrency"]
            n = null.get(c) or null[max(null)]
            print(f"{label:<32} {c:>3} {row['rps']:>8.0f} {row['p50']:>7} {row['p99']:>7} "
                  f"{row['cpuMicrosPerRequest']:>7.1f} {row['rps'] / n['rps']:>9.2f} "
                  f"{row['cpuMicrosPerRequest'] / n['cpuMicrosPerRequest']:>9.2f} "
                  f"{row['cpuMicrosPerRequest'] / floor_us:>7.2f}")
            row["ratioToNullRps"] = row["rps"] / n["rps"]
            row["ratioToNullCpu"] = row["cpuMicrosPerRequest"] / n["cpuMicrosPerRequest"]
            row["ratioToComputeFloor"] = row["cpuMicrosPerRequest"] / floor_us
    b64 = {body: r["edgeserve"].get(f"mlp784 {body} 64 rows") for body in ["oip-json", "oip-binary"]}
    if all(b64.values()):
        ratio = b64["oip-binary"][0]["rps"] / b64["oip-json"][0]["rps"]
        r["b64BinaryOverJson"] = ratio
        print(f"\n64-row request: OIP binary {ratio:.1f}x the OIP JSON req/s")
    print(f"\nstart to ready {r['startToReadySeconds']} s, idle RSS {r['idleRssKiB'] / 1024:.1f} MiB, "
          f"stripped edgeserved {r['edgeservedStrippedBytes'] / 1e6:.1f} MB (release), "
          + (f"{r['edgeservedDistBytes'] / 1e6:.1f} MB (dist)" if "edgeservedDistBytes" in r
             else "dist not built"))


if __name__ == "__main__":
    main()
