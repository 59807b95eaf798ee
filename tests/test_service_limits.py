"""`hgl serve` under abuse: every defect of the old stdlib server (issue 12), kept fixed, against a real uvicorn.

Sizes, counts and timeouts are set small so that each limit is reached quickly; no test
asserts a duration: each waits for an answer (or a counter) with a generous bound.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hgl.runtime import load
from hgl.runtime.service import Running, Settings, make_app
from hgl.runtime.service.server import DEFAULTS, make_config

from .conftest import ROOT

CHOOSER = ROOT / "bench" / "chooser.hgl"
EVALUATE = "/guidelines/her2_mbc/evaluate"
BATCH = "/guidelines/her2_mbc/evaluate-batch"


def serve(her2, **settings):
    limits = {k: settings.pop(k) for k in list(settings) if k in DEFAULTS or k == "write_timeout"}
    app = make_app([her2], Settings(auth=False, quiet=True, **settings), fhirin=None)
    return Running(app, **{"header_timeout": 1.0, **limits})


@pytest.fixture(scope="module")
def server(her2):
    srv = serve(her2, max_batch=50, max_body=64 * 1024, body_timeout=1.0)
    yield srv
    srv.stop()


def raw(srv, data: bytes, *, wait: float = 10.0) -> bytes:
    """Send bytes on a fresh connection; everything the server sends back until it closes (or `wait`)."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=wait) as sock:
        sock.sendall(data)
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except TimeoutError:
            pass
    return out


def answer(reply: bytes) -> tuple[int, dict, dict]:
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, json.loads(body)


def post(path: str, body: bytes, *extra: str, ctype="application/json") -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: x", f"Content-Type: {ctype}", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def strict(text: str):
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in an answer"))


# ---------------------------------------------------------------- strict JSON in, strict JSON out

MONTHS = "months_since_metastatic_diagnosis"


@pytest.mark.parametrize("body, status, error, field", [
    (b'{"case": {"hr_status": "\\ud800"}}', 400, "bad_json", None),             # a lone surrogate: was 500
    (b'{"case": {"hr_status": "\\udc00x"}}', 400, "bad_json", None),
    (b'{"case": {"hr_status": "\\ud83d\\ude00"}}', 422, "invalid_case", "hr_status"),  # a pair is fine
    (b'{"case": {"kps": NaN}}', 400, "bad_json", None),
    (b'{"case": {"kps": Infinity}}', 400, "bad_json", None),
    (b'{"case": {"kps": -Infinity}}', 400, "bad_json", None),
    (b'{"case": {"kps": 1e400}}', 400, "bad_json", None),                       # overflows a double
    (b'{"case": {"kps": ' + b"9" * 400 + b"}}", 400, "bad_json", None),         # a 400-digit number
    (b'{"case": {"kps": ' + b"9" * 4301 + b"}}", 400, "bad_json", None),
    (('{"case": {"%s": "%s years"}}' % (MONTHS, "1" * 400)).encode(), 422, "invalid_case", MONTHS),  # was 500
    (('{"case": {"%s": "%s years"}}' % (MONTHS, "1" * 4300)).encode(), 422, "invalid_case", MONTHS),  # was 500
    (('{"case": {"%s": "%s years"}}' % (MONTHS, "1" * 4400)).encode(), 422, "invalid_case", MONTHS),
    (('{"case": {"%s": {"value": 1e308, "unit": "years"}}}' % MONTHS).encode(), 422, "invalid_case", MONTHS),
    (('{"case": {"%s": {"value": %s, "unit": "years"}}}' % (MONTHS, "9" * 39)).encode(), 422, "invalid_case",
     MONTHS),
])
def test_strict_json(server, body, status, error, field):
    got_status, headers, got = answer(raw(server, post(EVALUATE, body, "Connection: close")))
    assert (got_status, got["error"]) == (status, error)
    assert headers["content-type"] == "application/json; charset=utf-8"
    if field:
        assert field in {f["field"] for f in got["fields"]}


def test_batch_answers_are_strict_json_with_the_bad_case_named(server):
    body = json.dumps({"cases": [{}, {MONTHS: {"value": 1e308, "unit": "years"}}, {MONTHS: "1" * 500 + " days"}]})
    r = httpx.post(server.url + BATCH, content=body, headers={"Content-Type": "application/json"})
    results = strict(r.text)["results"]
    assert r.status_code == 200 and "status" in results[0]
    assert [x["error"] for x in results[1:]] == ["invalid_case", "invalid_case"]


# ---------------------------------------------------------------- bounded work


def test_a_batch_over_the_count_is_refused(server):
    r = httpx.post(server.url + BATCH, json={"cases": [{}] * 5000})  # 20 KB: was 51 s and 1.3 GB
    assert r.status_code == 413 and r.json()["error"] == "too_many_cases"


@pytest.mark.parametrize("headers, status, error", [
    ({"Content-Length": str(1 << 30)}, 413, "too_large"),   # refused before reading a byte
])
def test_a_body_over_the_size_is_refused_unread(server, headers, status, error):
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    reply = raw(server, f"POST {EVALUATE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{head}\r\n"
                .encode() + b"{")
    got_status, got_headers, got = answer(reply)
    assert (got_status, got["error"]) == (status, error) and got_headers["connection"] == "close"


def test_a_request_over_its_seconds_of_work_is_503(her2):
    srv = serve(her2, max_work=0.0)  # the budget is gone before the first case is checked
    try:
        r = httpx.post(srv.url + BATCH, json={"cases": [{}, {}]})
        assert r.status_code == 503 and r.json()["error"] == "work_limit"
        assert srv.app.state.service.stats["work_limit"] == 1
        assert httpx.post(srv.url + EVALUATE, json={"case": {}}).status_code == 200  # one case: no check
    finally:
        srv.stop()


def test_a_client_leaving_cancels_its_work(her2):
    srv = serve(her2, max_batch=20000, max_body=1 << 20, max_work=600.0)
    try:
        stats = srv.app.state.service.stats
        body = json.dumps({"cases": [{}] * 20000}).encode()  # minutes of work
        with socket.create_connection(("127.0.0.1", srv.port)) as sock:
            sock.sendall(post(BATCH, body))
            time.sleep(0.5)
        for _ in range(600):  # the worker stops at its next case
            if stats["cancelled"]:
                break
            time.sleep(0.05)
        assert stats["cancelled"] == 1
        assert httpx.get(srv.url + "/health").json()["status"] == "ok"
    finally:
        srv.stop()


# ---------------------------------------------------------------- slow and abusive clients


def test_a_slow_head_is_cut_off_with_408(server):
    reply = raw(server, b"POST /guidelines/her2_mbc/evaluate HTTP/1.1\r\nHost: x\r\n")  # and then nothing
    status, headers, body = answer(reply)
    assert (status, body["error"], headers["connection"]) == (408, "timeout", "close")


def test_a_slow_body_is_cut_off_with_408(server):
    reply = raw(server, post(EVALUATE, b'{"case": {}}')[:-5])  # five bytes short, forever
    status, _, body = answer(reply)
    assert (status, body["error"]) == (408, "timeout")


def test_an_idle_connection_is_closed(server):
    assert raw(server, b"", wait=30) == b""


def test_slow_connections_do_not_silence_the_service(server):
    """Hundreds of half-sent requests (was: /health silent for 356 s): /health still answers at once."""
    socks = []
    try:
        for _ in range(300):
            s = socket.create_connection(("127.0.0.1", server.port))
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
        r = httpx.get(server.url + "/health", timeout=5)
        assert r.status_code == 200
    finally:
        for s in socks:
            s.close()


def test_too_many_connections_get_a_json_503(her2):
    srv = serve(her2, max_connections=2)
    try:
        held = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(2)]
        status, headers, body = answer(raw(srv, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"))
        assert (status, body["error"]) == (503, "overloaded")
        for s in held:
            s.close()
    finally:
        srv.stop()


def test_too_many_requests_get_a_json_503(her2):
    srv = serve(her2, max_requests=0)
    try:
        r = httpx.get(srv.url + "/health")
        assert (r.status_code, r.json()["error"], r.headers["retry-after"]) == (503, "overloaded", "1")
    finally:
        srv.stop()


@pytest.mark.parametrize("lengths", [("12", "12"), ("12", "13"), ("12, 12",), ("12,12",)])
def test_duplicate_content_length_is_refused(server, lengths):
    """Two Content-Length headers, even equal (h11 would merge them), are a smuggling attempt: 400."""
    head = "".join(f"Content-Length: {n}\r\n" for n in lengths)
    data = f"POST {EVALUATE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{head}\r\n".encode()
    status, _, body = answer(raw(server, data + b'{"case": {}}'))
    assert (status, body["error"]) == (400, "bad_request")


def test_two_requests_on_one_http11_connection(server):
    one = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    reply = raw(server, one + one.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
    assert reply.count(b"HTTP/1.1 200") == 2


def test_listen_backlog_and_head_limit():
    config = make_config(lambda *a: None)
    assert config.backlog == 2048 and config.h11_max_incomplete_event_size == 16 * 1024  # was backlog 5


def test_a_quiet_server_prints_nothing_when_clients_misbehave(tmp_path):
    """Disconnects, malformed and slow requests: no traceback, no line on stderr (was: one per disconnect)."""
    proc = subprocess.Popen([sys.executable, "-m", "hgl.compiler.cli", "serve", "--quiet", "--port", "0",
                             "--no-auth", "--header-timeout", "0.5", str(CHOOSER)],
                            stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()
        port = int(first.split("http://127.0.0.1:")[1].split("/")[0])
        srv = type("S", (), {"port": port})
        body = json.dumps({"cases": [{}] * 2000}).encode()
        with socket.create_connection(("127.0.0.1", port)) as sock:  # leaves in the middle of the work
            sock.sendall(post("/guidelines/chooser/evaluate-batch", body))
        with socket.create_connection(("127.0.0.1", port)) as sock:  # leaves in the middle of the body
            sock.sendall(post("/guidelines/chooser/evaluate", b'{"case": {}}')[:-3])
        raw(srv, b"GARBAGE\r\n\r\n")
        raw(srv, b"GET /health HTTP/1.1\r\n")  # slow head
        raw(srv, post("/guidelines/chooser/evaluate", b"{", "Content-Length: 1"))
        assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert err == "", err


def _established(pid: int, port: int) -> int:
    """How many connections to `port` the process `pid` holds (its socket fds in /proc/net/tcp)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if int(f[1].split(":")[1], 16) == port and f[3] == "01" and f[9] in inodes:  # 01: ESTABLISHED
            count += 1
    return count


def test_clients_connecting_at_start_up_are_spread_over_the_processes():
    """Every process's socket is in the port's group before the first fork: keep-alive clients that
    connect the moment the processes exist do not all stay with the first one."""
    proc = subprocess.Popen([sys.executable, "-m", "hgl.compiler.cli", "serve", "--quiet", "--port", "0",
                             "--no-auth", "--processes", "2", str(CHOOSER)], stderr=subprocess.PIPE, text=True)
    socks = []
    try:
        port = int(proc.stderr.readline().split("http://127.0.0.1:")[1].split("/")[0])
        children: list[int] = []
        for _ in range(3000):  # at once when the second process exists
            children = [int(x) for x in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
            if children:
                break
            time.sleep(0.001)
        for _ in range(16):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
            socks.append(s)
        for s in socks:  # answered: accepted by whichever process holds it
            assert s.recv(4096).startswith(b"HTTP/1.1 200")
        held = [_established(pid, port) for pid in (proc.pid, *children)]
        assert sum(held) == 16 and min(held) > 0, held
    finally:
        for s in socks:
            s.close()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_several_processes_share_the_port_and_stop_together(stop):
    """`hgl serve --processes 2`: two processes answer on one port; stopping the first stops both."""
    proc = subprocess.Popen([sys.executable, "-m", "hgl.compiler.cli", "serve", "--quiet", "--port", "0",
                             "--no-auth", "--processes", "2", str(CHOOSER)], stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()
        port = int(first.split("http://127.0.0.1:")[1].split("/")[0])
        children: list[int] = []
        for _ in range(300):  # forked once the server is ready: wait for it
            children = [int(x) for x in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
            if children:
                break
            time.sleep(0.1)
        assert len(children) == 1
        for _ in range(8):  # fresh connections: the kernel may hand them to either process
            assert httpx.get(f"http://127.0.0.1:{port}/health", headers={"Connection": "close"}).status_code == 200
    finally:
        proc.send_signal(stop)
        proc.communicate(timeout=30)
    for pid in children:
        for _ in range(300):
            if not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"process {pid} still runs")
