"""Cold import of each built function against `import boto3` alone, in fresh interpreters.

The path holds only what Lambda would: the function's directory from `.aws-sam/build`, its
layer's python/ directory, and boto3 with its dependencies (the runtime's copy; here linked from
the venv into a directory of their own, so nothing else of the venv is importable). The layer is
built for arm64: a native extension built for another machine is swapped for this machine's build
of the same package version (in a shadow copy of the layer), which changes nothing imported.
"""

from __future__ import annotations

import json
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".aws-sam" / "build"
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")

# What the Lambda runtime sets before the handler's module is imported. LAMBDA_TASK_ROOT matters:
# without it the X-Ray SDK believes it runs outside Lambda and builds two botocore X-Ray clients for
# centralized sampling at import (about 150 ms) that Lambda never builds.
LAMBDA_ENV = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "POWERTOOLS_SERVICE_NAME": "billing",
              "AWS_LAMBDA_FUNCTION_NAME": "bench", "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
              "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512", "PATH": "/usr/bin:/bin"}

PROBE = """
import sys, time
sys.path[:0] = {path!r}
started = time.perf_counter()
import {module}
print(time.perf_counter() - started)
"""


def _runtime_dir(root: Path) -> Path:
    site = Path(sysconfig.get_paths()["purelib"])
    runtime = root / "runtime"
    runtime.mkdir()
    for name in RUNTIME_PACKAGES:
        (runtime / name).symlink_to(site / name)
    return runtime


def _host_layer(layer: Path, root: Path) -> tuple[Path, list[str]]:
    """The layer as this machine can import it: foreign-arch native packages swapped for the venv's."""
    machine = platform.machine()
    foreign = sorted({p.relative_to(layer).parts[0] for p in layer.rglob("*.so") if machine not in p.name})
    if not foreign:
        return layer, []
    shadow = root / "layer"
    shadow.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in layer.iterdir():
        source = site / entry.name if entry.name in foreign else entry
        (shadow / entry.name).symlink_to(source)
    return shadow, foreign


def _time(path: list[str], module: str, cwd: Path) -> float:
    code = PROBE.format(path=path, module=module)
    out = subprocess.run([sys.executable, "-S", "-E", "-c", code], capture_output=True, text=True, cwd=cwd,
                         env={**LAMBDA_ENV, "LAMBDA_TASK_ROOT": path[0]}, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"import {module} failed: {out.stderr.strip().splitlines()[-1:]}")
    return float(out.stdout.strip().splitlines()[-1])


def build_if_missing() -> None:
    if not BUILD.exists():
        subprocess.run(["make", "build"], cwd=ROOT, check=True)


def measure(template: dict[str, Any], runs: int = 7) -> dict[str, Any]:
    from billing_local.template import functions

    build_if_missing()
    layer = BUILD / "BillingLayer" / "python"
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        root = Path(tmp)
        runtime = _runtime_dir(root)
        host_layer, swapped = _host_layer(layer, root)
        empty = root / "cwd"
        empty.mkdir()
        baseline = [_time([str(runtime)], "boto3", empty) for _ in range(runs)]
        base = statistics.median(baseline)
        for lid, info in sorted(functions(template).items()):
            fn_dir = BUILD / lid
            if not fn_dir.exists():
                results[lid] = {"error": "not built"}
                continue
            module = info.handler.rpartition(".")[0]
            path = [str(fn_dir), str(host_layer), str(runtime)]
            samples = [_time(path, module, empty) for _ in range(runs)]
            median = statistics.median(samples)
            results[lid] = {"median_ms": median * 1e3, "ratio": median / base}
        shutil.rmtree(root / "runtime", ignore_errors=True)
    return {"boto3_median_ms": base * 1e3, "runs": runs, "functions": results, "swapped_native": swapped}


if __name__ == "__main__":  # pragma: no cover - handy on its own
    from billing_local.template import load_template

    print(json.dumps(measure(load_template()), indent=2))
