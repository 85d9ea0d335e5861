"""The quick-start demo: build a RetinaNet-style detector from a config, initialize it, show
what set every weight.

    make demo            # or: .venv/bin/python examples/demo.py [--seed N] [--table]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torchinit  # noqa: E402
from examples.models import DETECTOR_CFG  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0, help="per-tensor seeded init (default 0)")
    parser.add_argument("--table", action="store_true", help="print the per-parameter provenance table")
    args = parser.parse_args()

    model = torchinit.build_model(DETECTOR_CFG)
    n = sum(p.numel() for p in model.parameters())
    print(f"Built {type(model).__name__} from DETECTOR_CFG: {n:,} parameters in "
          f"{sum(1 for _ in model.modules())} modules.")
    start = time.perf_counter()
    report = model.init_weights(seed=args.seed)
    elapsed = time.perf_counter() - start
    assert report is not None
    print(f"init_weights(seed={args.seed}) took {elapsed * 1000:.1f} ms.\n")
    print("Rules, as applied (modules reached, tensors each finally set):")
    for rule in report.rules:
        if rule.tensors or rule.beaten_tensors:
            print(f"  {rule.summary()}")
    print(f"\n{report.summary()}")
    untouched = report.by_source("none")
    if untouched:
        print(f"Left as built (no rule covers them): {', '.join(untouched[:8])}"
              + (" ..." if len(untouched) > 8 else ""))
    if args.table:
        print("\n" + report.table())
    else:
        print("\nSome rows of the provenance table (--table for all):")
        names = list(report.params)
        ends = ("backbone.conv1.weight", "bn1.weight", "fpn_convs.0.conv.weight", "retina_cls.weight", "retina_cls.bias")
        picks = [next(n for n in names if n.endswith(e)) for e in ends if any(n.endswith(e) for n in names)]
        for name in picks:
            print(f"  {name}: {report[name].describe()}")


if __name__ == "__main__":
    main()
