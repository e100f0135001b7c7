"""Load for benchmarks/serving.py: wrk at saturation, an asyncio open loop at a fixed rate.

Both run on the CPUs the server is not pinned to, and both report their own CPU use.

- ``saturate``: Debian's ``wrk`` (C, one thread per CPU given), ``connections`` clients back to
  back, the JSON body set by a Lua script, which also writes wrk's summary as JSON.
- ``open_loop``: requests sent on a fixed schedule whether or not the earlier ones answered;
  each latency is counted from the time the request was *scheduled*, so a server that stalls
  is charged for the requests that queued behind the stall (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

LUA = """
wrk.method = "POST"
wrk.body = %s
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local out = io.open(%s, "w")
  out:write(string.format('{"requests": %%d, "duration_us": %%d, "status_errors": %%d, "socket_errors": %%d, ',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  out:write(string.format('"p50_us": %%d, "p95_us": %%d, "p99_us": %%d}',
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
  out:close()
end
"""


@dataclass
class Phase:
    """What one load phase measured."""

    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    generator_cpu: float  # CPU-seconds the load generator used
    server_cpu: float = 0.0  # CPU-seconds the server used (set by the caller)
    scheduled: int = 0  # open loop only: requests scheduled

    @property
    def per_minute(self) -> float:
        return self.requests / self.seconds * 60 if self.seconds else 0.0

    def line(self, name: str) -> str:
        if not self.requests:
            return f"{name:<11} no successful request ({self.errors} errors)"
        cpu_ms = self.server_cpu / self.requests * 1000
        return (f"{name:<11} {self.per_minute:>9,.0f} req/min   p50 {self.p50_ms:6.1f}  p95 {self.p95_ms:6.1f}  "
                f"p99 {self.p99_ms:6.1f} ms   {self.requests:,} ok, {self.errors} errors in {self.seconds:.1f} s; "
                f"server {self.server_cpu / self.seconds:.2f} CPU ({cpu_ms:.2f} ms CPU/request), "
                f"load generator {self.generator_cpu / self.seconds:.2f} CPU")


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid Lua string literal for ASCII text


def saturate(url: str, body: bytes, connections: int, seconds: float, cpus: set[int], workdir: Path) -> Phase:
    """``wrk`` with ``connections`` clients for ``seconds``, pinned to ``cpus``."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk not found: install it with `make system-deps` (Debian package wrk)")
    out = workdir / "wrk-summary.json"
    script = workdir / "post.lua"
    script.write_text(LUA % (_lua_string(body.decode()), _lua_string(str(out))))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([wrk, f"-t{len(cpus)}", f"-c{connections}", f"-d{seconds:.0f}s", "-s", str(script), url],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                   preexec_fn=lambda: os.sched_setaffinity(0, cpus))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = json.loads(out.read_text())
    errors = summary["status_errors"] + summary["socket_errors"]
    return Phase(requests=summary["requests"] - summary["status_errors"], errors=errors,
                 seconds=summary["duration_us"] / 1e6, p50_ms=summary["p50_us"] / 1000,
                 p95_ms=summary["p95_us"] / 1000, p99_ms=summary["p99_us"] / 1000,
                 generator_cpu=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime))


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


async def _open_loop(url: str, body: bytes, per_minute: float, seconds: float) -> tuple[list[float], int, int, float]:
    import aiohttp

    interval, latencies, errors = 60.0 / per_minute, [], 0
    total = int(seconds / interval)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        started = time.perf_counter()

        async def one(scheduled: float) -> None:
            nonlocal errors
            try:
                async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
                    await response.read()
                    ok = response.status == 200
            except Exception:  # a failed request is a figure here, not a crash
                ok = False
            if ok:
                latencies.append(time.perf_counter() - scheduled)
            else:
                errors += 1

        tasks = []
        for n in range(total):
            scheduled = started + n * interval
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(scheduled)))
        await asyncio.gather(*tasks)
        return latencies, errors, total, time.perf_counter() - started


def open_loop(url: str, body: bytes, per_minute: float, seconds: float) -> Phase:
    """``per_minute`` requests on a fixed schedule for ``seconds``, from this process (which the
    caller has pinned to the generator's CPUs)."""
    cpu = time.process_time()
    latencies, errors, total, elapsed = asyncio.run(_open_loop(url, body, per_minute, seconds))
    ordered = sorted(latencies)
    return Phase(requests=len(latencies), errors=errors, seconds=elapsed, p50_ms=_percentile(ordered, 0.50),
                 p95_ms=_percentile(ordered, 0.95), p99_ms=_percentile(ordered, 0.99),
                 generator_cpu=time.process_time() - cpu, scheduled=total)
