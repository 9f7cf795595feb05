"""Probe for issue 6's fifth fix, AIIN (adaptive input-image normalisation, Saad et al. 2022/2023):
does a contrast-based histogram normalisation of the input images undo the fast-generator collapse?
Prints figures, asserts nothing, writes nothing to pretrained/.

    python scripts/probe_aiin.py [--seeds 8] [--clip 0.01]

An approximation, not the paper's exact procedure (its parameters are not in shared/REFERENCES.md):
CLAHE (``skimage.exposure.equalize_adapthist``) on each source image before the patches are cut.
The shipped classifier does not transfer to normalised patches, so a classifier is retrained on them
in memory (its held-out accuracy is printed) and judges this run only. The fast_g failure network
is then trained on the normalised patches; its claims are counted both ways: does it still fail
(the failure bar), and does it meet the fix bar?
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from skimage import exposure  # noqa: E402

from engine import patch_classifier as pc, patches  # noqa: E402
from demos import tissue_patches as tp  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--clip", type=float, default=0.01, help="CLAHE clip limit")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    raw_image = patches.image.__wrapped__

    def normalised(source_id: str, size: int = 32):
        a, mask = raw_image(source_id, size)
        return exposure.equalize_adapthist(np.clip(a, 0, 1), clip_limit=args.clip).astype(np.float32), mask

    patches.image = normalised  # build() looks the function up by name: every patch is now normalised
    patches.build.cache_clear()
    net, report = pc.train_classifier(tp.SIZE)
    print(f"classifier on normalised patches: held-out accuracy {report['accuracy']:.3f} "
          f"(balanced {report['balanced_accuracy']:.3f}); recall {json.dumps(report['recall'])}")
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    pc._cache[(str(pc.WEIGHTS), tp.SIZE)] = net  # the judge of this process loads this one
    r = tp.run(tp.Config(eval_every=1000), ["fast_g"], args.seeds)
    ps = r["variants"]["fast_g"]["per_seed"]
    print(f"real normalised patches: SSIM within modality {r['real']['diversity']:.3f}")
    print(f"fast_g on normalised patches: failure bar {sum(tp.success(r, 'fast_g', 'failure'))}/{len(ps)}, "
          f"fix bar {sum(tp.success(r, 'fast_g', 'fix'))}/{len(ps)}; mean modalities "
          f"{np.mean([p['modes'] for p in ps]):.1f}")
    print("per seed (modalities, reverse KL, SSIM):",
          [(p["modes"], round(p["reverse_kl"], 2), round(p["diversity"] or 0, 2)) for p in ps])


if __name__ == "__main__":
    main()
