"""Language-server benchmark: hover latency during a burst of edits, against an idle hover, in one run.

Run by hand (not a test):  .venv/bin/python bench/lsp.py [--edits 40] [--repeat 5]

Starts `hgl lsp`, opens the HER2 guideline and waits for its diagnostics; the baseline is the
median latency of a hover on the idle server.  Then, --repeat times: --edits didChange
notifications sent back to back (each a new full text), immediately followed by the same
hover.  Printed: the median hover latency during bursts as a ratio to the idle baseline, and
how many of the burst's versions were analysed (debouncing analyses the last one only).
"""

from __future__ import annotations

import argparse
import json
import queue
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HER2 = ROOT / "guidelines" / "her2_mbc.hgl"
URI = HER2.as_uri()


class Client:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-m", "hgl.compiler.cli", "lsp"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.inbox: queue.Queue = queue.Queue()
        self.seen: list[dict] = []
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            headers = {}
            while True:
                line = self.proc.stdout.readline()
                if not line:
                    return
                line = line.decode("ascii").strip()
                if not line:
                    break
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
            self.inbox.put(json.loads(self.proc.stdout.read(int(headers["content-length"]))))

    def send(self, message: dict):
        body = json.dumps(message).encode("utf-8")
        self.proc.stdin.write(f"Content-Length: {len(body)}\r\n\r\n".encode("ascii") + body)
        self.proc.stdin.flush()

    def wait(self, match) -> dict:
        while True:
            msg = self.inbox.get(timeout=120)
            self.seen.append(msg)
            if match(msg):
                return msg

    def request(self, method: str, params) -> dict:
        self.next_id += 1
        rid = self.next_id
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        return self.wait(lambda m: m.get("id") == rid and "method" not in m)

    def notify(self, method: str, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--edits", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    text = HER2.read_text(encoding="utf-8")
    lines = text.split("\n")
    row = next(i for i, x in enumerate(lines) if x.startswith("define older"))
    hover = {"textDocument": {"uri": URI}, "position": {"line": row, "character": len("define o")}}
    c = Client()
    c.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
    c.notify("initialized", {})
    c.notify("textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "hgl", "version": 1, "text": text}})
    c.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics")

    def timed_hover() -> float:
        t0 = time.perf_counter()
        answer = c.request("textDocument/hover", hover)
        assert answer.get("result"), answer
        return time.perf_counter() - t0

    idle = statistics.median(timed_hover() for _ in range(args.repeat))
    version, burst, analysed = 1, [], 0
    for _ in range(args.repeat):
        first = version + 1
        for i in range(args.edits):
            version += 1
            c.notify("textDocument/didChange", {"textDocument": {"uri": URI, "version": version},
                                                "contentChanges": [{"text": text + f"# edit {version}\n"}]})
        burst.append(timed_hover())
        last = version
        c.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["version"] == last)
        analysed += sum(1 for m in c.seen if m.get("method") == "textDocument/publishDiagnostics"
                        and first <= m["params"]["version"] <= last)
    c.request("shutdown", None)
    c.notify("exit", None)
    c.proc.wait(timeout=10)
    during = statistics.median(burst)
    print(f"hover, idle server (baseline):        {idle * 1000:8.1f} ms")
    print(f"hover right after {args.edits} edits:           {during * 1000:8.1f} ms   "
          f"ratio {during / idle:.1f}x baseline")
    print(f"versions analysed per burst of {args.edits}:    {analysed / args.repeat:8.1f}")


if __name__ == "__main__":
    main()
