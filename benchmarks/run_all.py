"""Run every benchmark script in this folder (full mode) and append their figures to RESULTS.md."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"\n=== {script.name}", flush=True)
        code = subprocess.call([sys.executable, "-m", f"benchmarks.{script.stem}"], cwd=HERE.parent)
        if code != 0:
            failed.append(script.name)
    print("\nFailed: " + ", ".join(failed) if failed else "\nAll benchmarks met their bars.")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
