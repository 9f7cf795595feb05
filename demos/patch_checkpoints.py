"""The tissue-patch demo's shipped generators: seed 0's G of each variant in half precision
(~140 kB), saved with the code version, variant and config that made it, and loaded with
``weights_only=True``; a missing, corrupt or stale file raises PretrainedError naming it."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import torch

from engine.patch_nets import Generator

if TYPE_CHECKING:
    from . import tissue_patches as tp


def trained_by(cfg: "tp.Config") -> dict:
    """What a checkpoint must match: every setting but where it ran (auto / cpu)."""
    return {k: v for k, v in dataclasses.asdict(cfg).items() if k != "device"}


def checkpoint_path(variant: str, root: Optional[Path] = None) -> Path:
    from engine import pretrained
    from . import tissue_patches as tp

    return (root or pretrained.ROOT) / f"{tp.DEMO_ID}_{variant}_G.pt"


def save_checkpoint(state: dict, cfg: "tp.Config", variant: str, seed: int, path: Path) -> None:
    """Seed ``seed``'s generator in half precision (a few hundred kB), with what it was trained by."""
    from . import tissue_patches as tp

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"code_version": tp.CODE_VERSION, "variant": variant, "seed": seed, "z_dim": cfg.z_dim,
                "config": trained_by(cfg),
                "state": {k: v.half() if v.is_floating_point() else v for k, v in state.items()}}, path)


def load_generator(path: Path, variant: str, cfg: "tp.Config") -> Generator:
    """A shipped generator (weights_only=True). Raises PretrainedError naming the file and problem."""
    from . import tissue_patches as tp
    from engine.pretrained import PretrainedError

    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise PretrainedError(f"{path.name}: no shipped generator (file missing)") from None
    except Exception as e:  # truncated, not a torch file, or pickled code that weights_only refuses
        raise PretrainedError(f"{path.name}: cannot be read as a weights file ({type(e).__name__})") from None
    if not isinstance(ck, dict) or ck.get("code_version") != tp.CODE_VERSION or ck.get("variant") != variant:
        raise PretrainedError(f"{path.name}: not a {tp.CODE_VERSION} generator of variant {variant!r}")
    if ck.get("config") != trained_by(cfg):
        raise PretrainedError(f"{path.name}: trained with another configuration; regenerate it with "
                              "python -m demos pretrain tissue_patches")
    g = tp.make_generator([ck["seed"]], cfg, tp.VARIANTS[variant][2](cfg).g_norm)
    try:
        g.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ck["state"].items()})
    except (RuntimeError, KeyError, TypeError, AttributeError) as e:
        raise PretrainedError(f"{path.name}: weights do not fit the generator ({str(e)[:100]})") from None
    return g


@torch.no_grad()
def draw(g: Generator, n: int, seed: int) -> torch.Tensor:
    """n fresh patches (n, 1, 16, 16) from a single-seed generator."""
    z = torch.randn(1, n, g.fc.shape[1], generator=torch.Generator().manual_seed(seed))
    return g(z)  # (n, S=1, 16, 16): the one seed's channel is the patch's channel
