"""Service benchmark: `hgl serve` under load, against a trivial ASGI endpoint served the same way.

Run by hand (not a test):  .venv/bin/python bench/service.py [--seconds 30] [--processes 1,2] [--workers N] [--reference]
Each server runs in its own process (uvicorn with hgl's hardened protocol); a load generator
(asyncio, raw HTTP/1.1 keep-alive connections) keeps 8, 32 and 128 clients busy for --seconds
each (default 3; --long is --seconds 30, the figures the issue asks for) and prints
requests/s, p50/p99 latency and the server's CPU milliseconds per request (user + system of
the server and its worker processes: the figure a loaded machine disturbs least) for:

- baseline: GET of a trivial ASGI app returning {} through the same uvicorn protocol;
- POST /guidelines/her2_mbc/evaluate with a complete case;
- POST /cds-services/her2_mbc (patient-view) with the FHIR prefetch of a synthetic patient;
- with --reference, the same patient-view first on servers running the reference completion
  search (Engine.dependency_plans off: the baseline of hgl.runtime.completion's dependency plans).

Then the server's peak RSS (VmHWM) after batch abuse (clients sending evaluate-batch of the
largest allowed size and over it) and after slow clients (thousands of connections sending
their request head a byte at a time), with /health latency while they are connected.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
HER2 = ROOT / "guidelines" / "her2_mbc.hgl"


# ---------------------------------------------------------------- the servers (child processes)


def child(kind: str, processes: int = 1, workers: int | None = None) -> None:
    """Run one server on a free port; print the port; serve until killed (`processes`, `workers` as hgl serve's)."""
    import uvicorn

    from hgl.runtime.service import Settings, make_app
    from hgl.runtime.service.server import bind, load_with_bindings, make_config, serve

    if kind == "baseline":
        async def app(scope, receive, send):
            if scope["type"] != "http":
                return
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")]})
            await send({"type": "http.response.body", "body": b"{}"})
    else:
        if kind == "reference":  # the completion search before dependency plans (forked workers inherit it)
            from hgl.runtime.engine import Engine

            Engine.dependency_plans = False
        extra = {} if workers is None else {"workers": workers}
        app = make_app([load_with_bindings(HER2)], Settings(auth=False, quiet=True, **extra))
    config = make_config(app, "127.0.0.1", 0, {"max_connections": 10000, "max_requests": 1024})
    sock = bind("127.0.0.1", 0, config.backlog, processes)
    print(sock.getsockname()[1], flush=True)
    if kind == "baseline":
        uvicorn.Server(config).run(sockets=[sock])
    else:
        serve(config, sock, processes)


class Server:
    def __init__(self, kind: str, processes: int = 1, workers: int | None = None):
        more = [] if workers is None else ["--workers", str(workers)]
        self.proc = subprocess.Popen([sys.executable, __file__, "--child", kind, "--processes", str(processes), *more],
                                     stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the server and its worker processes so far."""
        tick = os.sysconf("SC_CLK_TCK")
        total, todo = 0.0, [self.proc.pid]
        while todo:
            pid = todo.pop()
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
                for task in Path(f"/proc/{pid}/task").iterdir():
                    todo += [int(x) for x in (task / "children").read_text().split()]
            except (OSError, IndexError, ValueError):
                continue
        return total

    def load(self, data: bytes, clients: int, seconds: float) -> dict:
        """`load` on this server, with the server's CPU milliseconds per answered request."""
        before = self.cpu_seconds()
        r = asyncio.run(load(self.port, data, clients, seconds))
        r["cpu"] = (self.cpu_seconds() - before) * 1000 / max(r["n"], 1)
        return r

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


# ---------------------------------------------------------------- the load generator


def request(method: str, path: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + body


async def one_client(port: int, data: bytes, until: float, lat: list, errors: list):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < until:
            t = time.perf_counter()
            writer.write(data)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            lat.append(time.perf_counter() - t)
            if status != 200:
                errors.append(status)
            if b"connection: close" in head.lower():
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except (ConnectionError, asyncio.IncompleteReadError) as err:
        errors.append(type(err).__name__)
    finally:
        writer.close()


async def load(port: int, data: bytes, clients: int, seconds: float):
    lat, errors = [], []
    until = time.perf_counter() + seconds
    start = time.perf_counter()
    await asyncio.gather(*(one_client(port, data, until, lat, errors) for _ in range(clients)))
    elapsed = time.perf_counter() - start
    lat.sort()
    pct = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: float("nan"))
    return {"rps": len(lat) / elapsed, "p50": pct(0.50), "p99": pct(0.99), "n": len(lat), "errors": len(errors)}


def row(name, clients, r, base=None):
    ratio = f"{r['rps'] / base['rps']:6.2f}x" if base else "      -"
    print(f"  {name:<34} {clients:>4} {r['rps']:>9.0f} {ratio} {r['p50']:>8.1f} {r['p99']:>8.1f} "
          f"{r['errors']:>6} {r['cpu']:>8.2f}", flush=True)


# ---------------------------------------------------------------- abuse


async def batch_abuse(port: int, seconds: float, max_batch: int):
    ok = json.dumps({"cases": [{}] * max_batch}).encode()
    over = json.dumps({"cases": [{}] * 5000}).encode()
    until = time.perf_counter() + seconds
    statuses: dict = {}

    async def client(body):
        while time.perf_counter() < until:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(request("POST", "/guidelines/her2_mbc/evaluate-batch", body))
                head = await reader.readuntil(b"\r\n\r\n")
                statuses[int(head[9:12])] = statuses.get(int(head[9:12]), 0) + 1
                writer.close()
            except (ConnectionError, asyncio.IncompleteReadError):
                statuses["reset"] = statuses.get("reset", 0) + 1

    async def leaver():  # sends a full batch and leaves at once: its work must stop
        while time.perf_counter() < until:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request("POST", "/guidelines/her2_mbc/evaluate-batch", ok))
            await writer.drain()
            writer.close()
            statuses["left"] = statuses.get("left", 0) + 1
            await asyncio.sleep(0.2)

    await asyncio.gather(*(client(ok) for _ in range(4)), *(client(over) for _ in range(4)), leaver())
    return statuses


async def slow_clients(port: int, n: int, seconds: float):
    """n connections sending a request head a byte at a time; /health timed meanwhile."""
    socks = []
    for _ in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", port))
            s.setblocking(False)
            socks.append(s)
        except OSError:
            break
    head = b"GET /health HTTP/1.1\r\nHost: slow\r\nX-Pad: " + b"a" * 100
    until = time.perf_counter() + seconds
    health = asyncio.create_task(load(port, request("GET", "/health"), 8, seconds))
    i = 0
    while time.perf_counter() < until:
        for s in socks:
            try:
                s.send(head[i % len(head):i % len(head) + 1])
            except OSError:
                pass
        i += 1
        await asyncio.sleep(0.5)
    r = await health
    for s in socks:
        s.close()
    return len(socks), r


# ---------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--long", action="store_true", help="30 s per measurement (same as --seconds 30)")
    ap.add_argument("--seconds", type=float, default=None, help="seconds per measurement (default: 3)")
    ap.add_argument("--processes", default="1",
                    help="hgl serve --processes to measure, comma-separated (e.g. 1,2; default 1); "
                         "the abuse runs use the first")
    ap.add_argument("--reference", action="store_true",
                    help="first, patient-view on servers with the reference completion search "
                         "(Engine.dependency_plans off): the baseline of the dependency plans, in the same run")
    ap.add_argument("--workers", type=int, default=None,
                    help="hgl serve --workers: evaluation threads per process (default: the server's default)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, int(args.processes), args.workers)
    counts = [int(x) for x in args.processes.split(",") if x.strip()]
    seconds = args.seconds if args.seconds else 30.0 if args.long else 3.0
    from tests.test_service_cds import her2_fhir_guideline, prefetch_for  # the synthetic FHIR patient

    from hgl.runtime import fhirin

    example = __import__("yaml").safe_load((ROOT / "guidelines" / "examples" / "second_line.yaml").read_text())
    evaluate = request("POST", "/guidelines/her2_mbc/evaluate", json.dumps({"case": example}).encode())
    templates = fhirin.prefetch_templates(her2_fhir_guideline())
    hook = {"hook": "patient-view", "hookInstance": "bench", "context": {"patientId": "p1", "userId": "Practitioner/1"},
            "prefetch": prefetch_for(templates)}
    patient_view = request("POST", "/cds-services/her2_mbc", json.dumps(hook).encode())

    print(f"hgl serve under load: {os.cpu_count()} cores, loopback, {seconds:g} s per row")
    print(f"  {'endpoint':<34} {'conc':>4} {'req/s':>9} {'ratio':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} "
          f"{'cpu ms':>8}")
    base = Server("baseline")
    try:
        baseline = {c: base.load(request("GET", "/"), c, seconds) for c in (8, 32, 128)}
    finally:
        base.stop()
    for c, r in baseline.items():
        row("baseline (trivial ASGI GET)", c, r)
    for n in counts if args.reference else ():
        srv = Server("reference", n, args.workers)
        try:
            for c in (8, 32, 128):
                row(f"patient-view, reference ({n} proc)", c, srv.load(patient_view, c, seconds), baseline[c])
        finally:
            srv.stop()
    for n in counts[1:]:  # the other process counts first: the abuse runs need the first one's server
        srv = Server("hgl", n, args.workers)
        try:
            for name, data in ((f"POST evaluate ({n} processes)", evaluate),
                               (f"CDS patient-view ({n} processes)", patient_view)):
                for c in (8, 32, 128):
                    row(name, c, srv.load(data, c, seconds), baseline[c])
        finally:
            srv.stop()
    srv = Server("hgl", counts[0], args.workers)
    try:
        suffix = f" ({counts[0]} processes)" if counts[0] > 1 else ""
        for name, data in ((f"POST evaluate (complete case){suffix}", evaluate),  # noqa: E501
                           (f"CDS patient-view (FHIR prefetch){suffix}", patient_view)):
            for c in (8, 32, 128):
                row(name, c, srv.load(data, c, seconds), baseline[c])
        idle = srv.rss_mb()
        print(f"\n  RSS after the load runs: {idle:.0f} MB (peak so far {srv.peak_rss_mb():.0f} MB)")
        statuses = asyncio.run(batch_abuse(srv.port, seconds, 1000))
        print(f"  batch abuse ({seconds:g} s: 4 clients x 1,000 empty cases, 4 x 5,000, one leaving each time): "
              f"answers {dict(sorted(statuses.items(), key=str))}; peak RSS {srv.peak_rss_mb():.0f} MB")
        n, health = asyncio.run(slow_clients(srv.port, 2000, max(seconds, 12.0)))
        print(f"  slow clients ({n} connections, a head byte each 0.5 s, cut at 10 s): peak RSS "
              f"{srv.peak_rss_mb():.0f} MB; meanwhile /health at 8 clients {health['rps']:.0f} req/s, "
              f"p50 {health['p50']:.1f} ms, p99 {health['p99']:.1f} ms, errors {health['errors']}")
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
