#!/usr/bin/env python3
"""Scores edgeserve with the HTTP clients people already run, for tests/tests/e2e/clients.rs.

Usage: clients.py CLIENT --host HOST --port PORT --ca CA.pem --key KEY --endpoint E --rows JSON

CLIENT is one of: requests, urllib, httpx-h2, tritonclient-json, tritonclient-binary.
Each makes one scoring request that must succeed (the model's single input `x` fed `rows`) and
one that must be refused, and prints one JSON object:
  {"success": {"status": 200, "outputs": [[...], ...], "httpVersion": "..."},
   "refusal": {"status": 401|400, "message": "...", "body": {...}}}
The Rust test asserts on it; this script asserts nothing and prints what the client saw.
"""
import argparse
import json
import ssl
import sys


def seed_request(rows):
    return json.dumps({"data": rows}).encode()


def run_requests(a):
    import requests

    url = f"https://{a.host}:{a.port}/api/v1/service/{a.endpoint}/score"
    headers = {"Authorization": f"Bearer {a.key}"}
    ok = requests.post(url, json={"data": a.rows}, headers=headers, verify=a.ca, timeout=30)
    bad = requests.post(
        url, json={"data": a.rows}, headers={"Authorization": "Bearer esk_wrong"}, verify=a.ca, timeout=30
    )
    body = bad.json()
    return (
        {"status": ok.status_code, "outputs": ok.json().get("result"), "httpVersion": "HTTP/1.1"},
        {"status": bad.status_code, "message": body["error"]["message"], "body": body},
    )


def run_urllib(a):
    """The seed's scoring snippet, as its documentation prints it, plus a CA to trust."""
    import urllib.error
    import urllib.request

    url = f"https://{a.host}:{a.port}/api/v1/service/{a.endpoint}/score"
    context = ssl.create_default_context(cafile=a.ca)

    def call(api_key):
        body = str.encode(json.dumps({"data": a.rows}))
        headers = {"Content-Type": "application/json", "Authorization": ("Bearer " + api_key)}
        req = urllib.request.Request(url, body, headers)
        try:
            response = urllib.request.urlopen(req, context=context, timeout=30)
            return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read().decode("utf8", "ignore"))

    status, result = call(a.key)
    bad_status, body = call("esk_wrong")
    return (
        {"status": status, "outputs": result.get("result"), "httpVersion": "HTTP/1.1"},
        {"status": bad_status, "message": body["error"]["message"], "body": body},
    )


def run_httpx(a):
    import httpx

    url = f"https://{a.host}:{a.port}/api/v1/service/{a.endpoint}/score"
    context = ssl.create_default_context(cafile=a.ca)
    with httpx.Client(http2=True, verify=context, timeout=30) as client:
        ok = client.post(url, json={"data": a.rows}, headers={"Authorization": f"Bearer {a.key}"})
        bad = client.post(url, json={"data": a.rows}, headers={"Authorization": "Bearer esk_wrong"})
        body = bad.json()
        return (
            {"status": ok.status_code, "outputs": ok.json().get("result"), "httpVersion": ok.http_version},
            {"status": bad.status_code, "message": body["error"]["message"], "body": body},
        )


def run_tritonclient(a, binary):
    import numpy as np
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException

    context = ssl.create_default_context(cafile=a.ca)
    client = httpclient.InferenceServerClient(
        url=f"{a.host}:{a.port}",
        ssl=True,
        ssl_context_factory=lambda: context,
        insecure=False,
    )
    headers = {"Authorization": f"Bearer {a.key}"}
    x = np.asarray(a.rows, dtype=np.float32)
    inp = httpclient.InferInput("x", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    out = httpclient.InferRequestedOutput("y", binary_data=binary)
    result = client.infer(a.endpoint, [inp], outputs=[out], headers=headers)
    outputs = result.as_numpy("y").tolist()
    ready = client.is_model_ready(a.endpoint, headers=headers)
    # Refused: the input's shape is wrong; the client must read status and message.
    wrong = np.zeros((x.shape[0], x.shape[1] + 1), dtype=np.float32)
    bad = httpclient.InferInput("x", list(wrong.shape), "FP32")
    bad.set_data_from_numpy(wrong, binary_data=binary)
    refusal = {"status": None, "message": None}
    try:
        client.infer(a.endpoint, [bad], headers=headers)
    except InferenceServerException as e:
        refusal = {"status": int(e.status()), "message": e.message(), "text": str(e)}
    # And with a wrong key.
    try:
        client.infer(a.endpoint, [inp], headers={"Authorization": "Bearer esk_wrong"})
    except InferenceServerException as e:
        refusal["unauthorized"] = {"status": int(e.status()), "message": e.message(), "text": str(e)}
    client.close()
    return {"status": 200, "outputs": outputs, "ready": ready, "httpVersion": "HTTP/1.1"}, refusal


def main():
    p = argparse.ArgumentParser()
    p.add_argument("client")
    p.add_argument("--host", default="localhost")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--rows", type=json.loads, required=True)
    a = p.parse_args()
    runners = {
        "requests": run_requests,
        "urllib": run_urllib,
        "httpx-h2": run_httpx,
        "tritonclient-json": lambda a: run_tritonclient(a, binary=False),
        "tritonclient-binary": lambda a: run_tritonclient(a, binary=True),
    }
    success, refusal = runners[a.client](a)
    json.dump({"success": success, "refusal": refusal}, sys.stdout)


if __name__ == "__main__":
    main()
