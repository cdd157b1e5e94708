"""``stylize-train eval``: does the model reach its targets, and can it come back?

- target accuracy: every held-out image is translated to every other value of each of its groups, and an
  independent classifier, trained here on the *real* training images only, judges whether the result shows the
  target value (the paper's classification-based evaluation);
- reconstruction L1: mean |x − G(G(x, c_trg), c_org)| on images in [−1, 1] (the training loss's scale).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.utils import save_image
from tqdm import tqdm

from stylize.models.modelfile import StyleModel
from stylize.models.schema import DomainSchema

from .datasets.base import Crops, DatasetSpec, batches, prepare_crops, to_tensor
from .losses import classification_loss
from .trainer import translate_grid

CLASSIFIER_SIZE = 64


class DomainClassifier(nn.Module):
    """A small CNN judge at 64 px, independent of the GAN's discriminator."""

    def __init__(self, out_dim: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        dims = (3, 32, 64, 128, 256)
        for a, b in zip(dims[:-1], dims[1:], strict=True):
            layers += [nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(dims[-1], out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=CLASSIFIER_SIZE, mode="bilinear", align_corners=False, antialias=True)
        return self.head(self.features(x).mean((2, 3)))


def train_classifier(crops: Crops, schema: DomainSchema, steps: int, seed: int, progress: bool = True
                     ) -> DomainClassifier:
    torch.manual_seed(seed)
    clf = DomainClassifier(schema.cls_dim)
    opt = torch.optim.Adam(clf.parameters(), 1e-3)
    stream = batches(crops, 32, torch.Generator().manual_seed(seed))
    for _ in tqdm(range(steps), desc="judge classifier", unit="it", disable=not progress, leave=False):
        x, y, set_index = next(stream)
        loss = classification_loss(clf(x), y[:, :schema.cls_dim], schema, set_index)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return clf.eval()


def predicted(schema: DomainSchema, logits: np.ndarray, set_index: int) -> dict[str, str]:
    return schema.decode(logits, set_index)


@torch.no_grad()
def evaluate(model: StyleModel, spec: DatasetSpec, cache_dir: Path, classifier_steps: int = 400,
             limit: int | None = None, seed: int = 0, progress: bool = True, grid: Path | None = None) -> dict:
    """Target accuracy and reconstruction L1 on the held-out split; ``grid``: also save a PNG of a few held-out
    images (rows: input, then each value), spread over the split."""
    schema = model.schema
    if schema.to_json() != spec.schema.to_json():
        raise ValueError("the model's domain schema does not match this dataset's")
    size = model.image_size
    train = prepare_crops(spec.train, spec.alignment, size, cache_dir, "aligning train")
    test = prepare_crops(spec.test, spec.alignment, size, cache_dir, "aligning test")
    with torch.enable_grad():
        judge = train_classifier(train, schema, classifier_steps, seed, progress)
    G = model.generator.eval()
    if grid is not None:
        save_image(translate_grid(G, schema, test, 8, torch.device("cpu")), grid)
    idx = np.arange(len(test.labels))
    if limit is not None and limit < len(idx):
        idx = np.linspace(0, len(idx) - 1, limit).round().astype(int)
    real_hits = hits = total = 0
    per_value: dict[str, list[int]] = {}
    l1 = []
    for i in tqdm(idx, desc="evaluating", unit="img", disable=not progress, leave=False):
        x = to_tensor(test.images[i:i + 1])
        set_index = int(test.sets[i])
        own = schema.decode(test.labels[i], set_index)
        real_hits += predicted(schema, judge(x)[0].numpy(), set_index) == own
        targets, wanted = [], []
        for g in schema.label_sets[set_index].groups:
            for v in g.values:
                if v != own[g.name]:
                    targets.append(schema.encode({**own, g.name: v}, set_index))
                    wanted.append((g.name, v))
        if not targets:
            continue
        c_trg = torch.from_numpy(np.stack(targets))
        fake = G(x.expand(len(targets), -1, -1, -1), c_trg)
        rec = G(fake, torch.from_numpy(test.labels[i]).expand(len(targets), -1))
        l1.append((rec - x).abs().mean().item())
        for (gname, v), logits in zip(wanted, judge(fake).numpy(), strict=True):
            ok = int(predicted(schema, logits, set_index)[gname] == v)
            hits += ok
            total += 1
            per_value.setdefault(f"{gname}={v}", []).append(ok)
    return {
        "model_steps": model.provenance.get("steps"),
        "test_images": int(len(idx)),
        "target_accuracy": round(hits / max(total, 1), 4),
        "per_target": {k: round(float(np.mean(v)), 4) for k, v in sorted(per_value.items())},
        "reconstruction_l1": round(float(np.mean(l1)) if l1 else float("nan"), 4),
        "judge_accuracy_on_real_test": round(real_hits / max(len(idx), 1), 4),
        "judge_steps": classifier_steps,
    }
