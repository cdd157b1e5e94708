"""G's guide (``--lambda-guide``): a frozen attribute classifier, trained on the real training faces before the GAN,
whose reading of every generated face joins D's classification term in G's loss.

Why: under the paper's critic G takes one step per five of D's, and D's classification head shares its features
with the critic; after a CPU budget it still reads real faces loosely (D_cls about 1.3 on augmented reals), so
"blond" reaches G as a weak, moving signal, and dark hair comes out a pale gold (docs/celeba-experiments.md). A
classifier trained first gives G a fixed, sharper reading from its first step. It is not `eval`'s judge: other widths,
another seed, and it sees G's faces shifted, partly blanked (as D does) and brought down to ``--guide-size``
(16 px): a full-size guide was satisfied within a few hundred steps by a fine coloured speckle over the face (a run
here), which the low-passed view cannot see; hair colour it sees well. What G learns has to hold for a classifier
other than the one it trains against.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import torch

from stylize.models.schema import DomainSchema

from .augment import POLICIES, augment
from .datasets.base import Crops
from .evaluate import DomainClassifier, cached_judge
from .losses import classification_loss

GUIDE_DIMS = (3, 24, 48, 96, 192)  # the judge's are 32…256
GUIDE_SEED = 1  # the judge's is 0


def load_guide(cache_dir: Path, train: Crops, schema: DomainSchema, steps: int, sees: int, device: torch.device,
               progress: bool = True, gray: bool = False, robust: float = 0.0) -> DomainClassifier:
    """The guide for these crops, trained once and kept in the crop cache beside the judges (a resumed run, or
    another run on the same crops, finds it there), frozen. Training it leaves torch's global random state as it
    was, so G and D start alike whether the guide was trained now or read back. ``gray`` (``--guide-gray``): it
    reads luminance only, so a change of colour alone (red or blue eyes, which a colour guide for gender taught G)
    cannot satisfy it. ``robust`` (``--guide-robust``): trained on adversarial faces (grey levels of 255), so that
    a faint pattern, the stripes a full-size guide taught G, cannot move its reading far."""
    with torch.random.fork_rng(devices=[]):
        guide = cached_judge(cache_dir, train, schema, steps, GUIDE_SEED, progress, gray=gray, policy=POLICIES,
                             dims=GUIDE_DIMS, name="guide", sees=sees, robust=robust)
    return guide.to(device).eval().requires_grad_(False)


def guide_loss(guide: DomainClassifier, fake: torch.Tensor, target: torch.Tensor, schema: DomainSchema,
               set_index: int, generator: torch.Generator, groups: Collection[str] = ()) -> torch.Tensor:
    """The guide's classification loss on G's faces for the asked labels, through the judge's augmentation;
    ``groups``: only these (``--guide-groups``; all when empty)."""
    return classification_loss(guide(augment(fake, POLICIES, generator)).float(), target, schema, set_index, groups)
