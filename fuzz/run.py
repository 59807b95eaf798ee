"""Run a fuzz target for a while: `python fuzz/run.py compile|cases [--seconds N] [--engine atheris|hypothesis]`.

atheris (coverage-guided, libFuzzer) when installed, else hypothesis mutating the corpus.
`make fuzz` runs both targets for FUZZ_SECONDS each (default 300).  A finding is printed with
its input and the run exits 1; add the input to fuzz/corpus/<target>/ once it is fixed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import targets  # noqa: E402


def mutations():
    """A hypothesis strategy of byte strings: corpus seeds with a few random edits."""
    from hypothesis import strategies as st

    words = [b"if ", b" then ", b" else ", b"not ", b" and ", b" or ", b"(", b")", b"{", b"}", b'"', b"\n", b"end",
             b"\x1b[31m", b"\xff", b"9" * 50, b"1e308", b'"\\ud800"', b"null", b"[", b"]", b",", b":", b"&a ", b"*a"]

    @st.composite
    def mutated(draw, seeds):
        data = bytearray(draw(st.sampled_from(seeds)))
        for _ in range(draw(st.integers(0, 8))):
            i = draw(st.integers(0, len(data)))
            kind = draw(st.integers(0, 3))
            if kind == 0:
                data[i:i] = draw(st.sampled_from(words))
            elif kind == 1:
                data[i:i + draw(st.integers(1, 20))] = b""
            elif kind == 2:
                data[i:i] = draw(st.binary(max_size=8))
            else:
                j = draw(st.integers(0, len(data)))
                data[i:i] = data[min(i, j):max(i, j)][:200]
        return bytes(data)

    return mutated


def run_hypothesis(name: str, seconds: float, examples: int | None = None) -> None:
    from hypothesis import HealthCheck, given, settings

    seeds = targets.corpus(name)
    target = targets.TARGETS[name]
    deadline = time.monotonic() + seconds

    @settings(max_examples=examples or 100, deadline=None, database=None, derandomize=examples is not None,
              suppress_health_check=list(HealthCheck))
    @given(mutations()(seeds))
    def fuzz(data):
        if time.monotonic() < deadline:
            target(data)

    for seed in seeds:
        target(seed)
    rounds = 0
    while True:  # rounds of 100 fresh random examples until the time is up (one round when `examples`)
        fuzz()
        rounds += 1
        if examples or time.monotonic() >= deadline:
            break
    print(f"{name}: {len(seeds)} seeds and {rounds} round(s) of mutations, no finding", file=sys.stderr)


def run_atheris(name: str, seconds: float) -> None:
    import atheris

    with atheris.instrument_imports():
        import hgl.compiler.pipeline  # noqa: F401
        import hgl.runtime.batch  # noqa: F401
    target = targets.TARGETS[name]
    for seed in targets.corpus(name):  # warm up (compiles the chooser) outside libFuzzer's timeout
        target(seed)
    work = targets.ROOT / "build" / "fuzz-corpus" / name  # libFuzzer adds what it finds here, not to the repo
    work.mkdir(parents=True, exist_ok=True)
    atheris.Setup([sys.argv[0], f"-max_total_time={int(seconds)}", "-timeout=60", f"-artifact_prefix={work.parent}/", "-rss_limit_mb=4096",
                   str(work), str(targets.CORPUS / name)], target)
    atheris.Fuzz()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("target", choices=sorted(targets.TARGETS))
    p.add_argument("--seconds", type=float, default=300)
    p.add_argument("--engine", choices=("auto", "atheris", "hypothesis"), default="auto")
    args = p.parse_args(argv)
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401
            engine = "atheris"
        except ImportError:
            engine = "hypothesis"
    print(f"fuzzing {args.target} with {engine} for {args.seconds:g} s", file=sys.stderr)
    if engine == "atheris":
        run_atheris(args.target, args.seconds)
    else:
        run_hypothesis(args.target, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
