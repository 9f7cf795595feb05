"""How often the tissue-patch demo's claims hold, and what it costs: prints figures, asserts nothing.

    python scripts/sweep_tissue_patches.py --seeds 8                      # every variant, defaults
    python scripts/sweep_tissue_patches.py --variants plain,batchnorm --set steps=1000 --seeds 4
    python scripts/sweep_tissue_patches.py --from pretrained/tissue_patches_fast_g.json   # no training
    python scripts/sweep_tissue_patches.py --setup g_norm=1 --set lr_g=2e-3   # another base network

``--setup KEY=VALUE`` changes the base network of *every* variant (a field of ``Setup``: g_norm,
d_norm, mbstd, pack, spectral, loss, diffaug); each variant then applies its own change on top.

For each variant: the claim's success rate over seeds (``tissue_patches.success``: failure = inter-
or intra-class collapse; fix = >= 4 modalities and reverse KL <= 0.35), mean +- sd of every metric, and the training
time (wall and CPU seconds of this process: on a shared machine the CPU time is the better guide
to what an idle core would take; one torch thread).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from demos import tissue_patches as tp  # noqa: E402
from engine.config import from_overrides, parse_set_args  # noqa: E402


def report(result: dict, cpu_s: float | None = None) -> None:
    print(f"config: {json.dumps({k: v for k, v in result['config'].items() if v != getattr(tp.Config(), k)}) or 'defaults'}, "
          f"seeds {result['seeds'][0]}..{result['seeds'][-1]}")
    real = result.get("real", {})
    print(f"real patches: modes {real.get('modes')}, reverse KL {real.get('reverse_kl', float('nan')):.3f}, "
          f"SSIM {real.get('diversity', float('nan')):.3f}, Fréchet {real.get('frechet_classifier', float('nan')):.2f}")
    print(f"{'variant':<11} {'claim':>6}  {'modes':>9} {'rev. KL':>11} {'SSIM':>11} {'Fréchet':>12} {'HQ':>6}  {'wall s':>6}  modes per seed")
    for v, r in result["variants"].items():
        ok = tp.success(result, v, "failure" if v in tp.FAILURE.values() else "fix")
        m, s = r["mean"], r["sd"]
        print(f"{v:<11} {sum(ok):>2}/{len(ok):<3}  {m['modes']:.1f}±{s['modes']:.1f}  {m['reverse_kl']:.2f}±{s['reverse_kl']:.2f}  "
              f"{m['diversity']:.2f}±{s['diversity']:.2f}  {m['frechet_classifier']:5.1f}±{s['frechet_classifier']:4.1f}  "
              f"{m['hq_fraction']:.2f}  {r['wall_time_s']:6.1f}  {' '.join(str(int(p['modes'])) for p in r['per_seed'])}")
    print(f"total wall {result['wall_time_s']:.1f} s" + (f", CPU {cpu_s:.1f} s" if cpu_s is not None else ""))


def rebase(fields: dict[str, str]) -> None:
    """Give every variant another base network: its scenario's failure Setup gets ``fields``, then
    the variant re-applies what it changes relative to that failure (e.g. ``--setup g_norm=0
    --setup d_norm=0`` puts minibatch stddev on the pair without batch norm)."""
    types = {f.name: f.type for f in dataclasses.fields(tp.Setup)}
    unknown = set(fields) - set(types)
    if unknown:
        sys.exit(f"--setup: unknown field(s) {sorted(unknown)}; expected some of {sorted(types)}")
    conv = {"bool": lambda v: v.lower() in ("1", "true", "yes"), "int": int, "str": str}
    changes = {k: conv[str(types[k])](v) for k, v in fields.items()}
    original = dict(tp.VARIANTS)

    def make(fn, failure_fn):
        def f(c):
            su, failure = fn(c), failure_fn(c)
            own = {k.name: getattr(su, k.name) for k in dataclasses.fields(su) if getattr(su, k.name) != getattr(failure, k.name)}
            return dataclasses.replace(failure, **(changes | own))  # the variant's own change wins
        return f

    for v, (label, scenario, fn) in original.items():
        tp.VARIANTS[v] = (label, scenario, make(fn, original[tp.FAILURE[scenario]][2]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default=",".join(tp.VARIANTS))
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--setup", action="append", default=[], metavar="KEY=VALUE", help="base Setup field for every variant")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", help="also write the full result here")
    ap.add_argument("--from", dest="source", help="report on a saved result instead of training")
    args = ap.parse_args()
    if args.source:
        report(json.loads(Path(args.source).read_text()))
        return
    torch.set_num_threads(args.threads)
    cfg = from_overrides(tp.Config, parse_set_args(args.set))
    if args.setup:
        rebase(parse_set_args(args.setup))
    t0 = time.process_time()
    result = tp.run(cfg, args.variants.split(","), args.seeds)
    cpu = time.process_time() - t0
    if args.json:
        from engine.pretrained import save

        save(result, Path(args.json))
    report(result, cpu)


if __name__ == "__main__":
    main()
