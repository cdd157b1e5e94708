"""``stylize-train eval``: did the edit work, and did it leave the rest of the person alone?

Every held-out image is edited to every other value of each of its groups *the way the tool edits*: the change is
pasted onto the full-resolution image (``pipeline/composite.py``), and the face is cut out again for judging.

- target reached: an independent classifier, trained here on the *real* training images only (shifted and partly
  blanked by default, so that a coloured patch cannot sway it), judges whether the edited face shows the asked
  value (the paper's classification-based evaluation); per target, and split by the face's own value (→blond from
  black, from brown, ...), since where an edit starts decides how far it has to go. A second judge that sees
  luminance only reads the same edits: a CNN judge in colour reads eyeshadow as a gender, and its figures alone
  cannot tell a changed face from make-up;
- others kept: the same classifier's reading of every group that was *not* asked (``gender when hair asked``),
  compared with its reading of the unedited face;
- same person: dlib's face descriptor (``dlib_face_recognition_resnet_model_v1``) distance between the unedited
  and edited image, below 0.6 (dlib's own same-person threshold), for face models;
- layout kept: correlation of the 16x16 luminance of the face before and after (the face's arrangement survives a
  redraw, e.g. photo → anime), per target, and the share of edits at or above 0.5;
- plaid: how much of the edited faces' fine detail runs in straight horizontal and vertical strokes, over the
  same for real held-out faces of the asked value (1: as real faces; a decoder that copies cells into 2x2 blocks
  leaves a plaid of such strokes, docs/anime-experiments.md);
- painted: the share of the inner face (eyes, nose, mouth) whose colour, not brightness, the edit moved by more than
  PAINTED (CIELAB a*b* distance), per target: the orange eye shadow, green lips and red eyes that gender edits of
  long CelebA runs paint show here as a number (a real gender change moves the face's colour little);
- shaded: the same share for lightness that fell by more than SHADED: a sheet of dark hair drawn over a cheek, or a
  face half in shadow, which the colour of ``painted`` does not see; stained: the share of edits that shaded more
  than STAINED of the inner face, how often a user meets such a face (`stylize` warns when it is common);
- vivid: the share of the whole crop that the edit made more vivid than VIVID (Lab chroma) and than it was by more
  than VIVID_RISE: the red crowns and blue smudges a heavier classification term paints over hair, where the inner
  face's ``painted`` does not look (no CelebA hair colour reaches VIVID);
- spill: the share of the backdrop (the crop outside the template's head and hair ellipse) whose colour or lightness
  the edit moved by more than SPILL: glows round the head and blobs on the wall, which real footage showed;
- own value change: the mean change (grey levels) when asked for what the face already has (a blond asked blond),
  which should be nothing: G's streaks or glow there are what a user sees on a face already of the asked colour;
- reconstruction L1: mean |x − G(G(x, c_trg), c_org)| on model-size crops in [−1, 1] (the training loss's scale).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.utils import save_image
from tqdm import tqdm

from stylize.models.catalogue import APPLIED, FEATHER, STAINED
from stylize.models.modelfile import StyleModel
from stylize.models.schema import DomainSchema, Group
from stylize.pipeline.align import face_transform, inside_mask, warp_to_crop, whole_image_transform
from stylize.pipeline.composite import paste_face
from stylize.pipeline.frames import Face
from stylize.pipeline.regions import OUTSIDE_FACE_GROUPS, edit_region, head, inner_face
from stylize.pipeline.translate import model_change

from .augment import POLICIES, augment
from .datasets.base import (
    Crops,
    DatasetSpec,
    LoadedSample,
    SampleLoader,
    batches,
    prepare_crops,
    to_grey_levels,
    to_tensor,
)
from .losses import classification_loss

CLASSIFIER_SIZE = 64
LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
SAME_PERSON = 0.6  # dlib's threshold on descriptor distance
LAYOUT_SIZE, LAYOUT_KEPT = 16, 0.5
PAINTED = 20.0  # a*b* distance (OpenCV's 8-bit Lab, ~CIE units) past which a pixel's colour counts as painted
VIVID, VIVID_RISE = 40.0, 10.0  # 8-bit Lab chroma: CelebA hair stays under ~30, a painted red crown reaches 50-66
SPILL = 20.0  # Lab distance (OpenCV's 8-bit) past which a backdrop pixel counts as changed
SHADED = 40.0  # fall in OpenCV's 8-bit L (L* × 2.55) past which a pixel counts as shaded: skin to dark hair is ~100
GRID_ROWS = 8
JUDGE_DIMS = (3, 32, 64, 128, 256)  # channels: the input, then the four stages


class DomainClassifier(nn.Module):
    """A small CNN judge at 64 px, independent of the GAN's discriminator. ``gray``: it sees luminance only, so
    domains that differ in colour (anime vs pencil sketch) must be told apart by their structure. ``dims``: the
    channels of its four stages; ``sees``: the side, in pixels, the image is first brought down to (smaller: it reads
    only coarse colour and shape; `train/guide.py` trains one of other widths, seeing 16 px, as G's guide).
    ``hide``: 64×64 weights, 1 where the judge sees mid grey instead of the image, in training and reading alike
    (`evaluate`'s ``judge_hides_face``)."""

    def __init__(self, out_dim: int, gray: bool = False, dims: tuple[int, ...] = JUDGE_DIMS,
                 sees: int = CLASSIFIER_SIZE, hide: np.ndarray | None = None) -> None:
        super().__init__()
        self.gray, self.sees = gray, sees
        self.register_buffer("hide", None if hide is None else torch.as_tensor(hide, dtype=torch.float32).view(
            1, 1, CLASSIFIER_SIZE, CLASSIFIER_SIZE), persistent=False)
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:], strict=True):
            layers += [nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(dims[-1], out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.sees < CLASSIFIER_SIZE:
            x = F.interpolate(x, size=self.sees, mode="bilinear", align_corners=False, antialias=True)
        x = F.interpolate(x, size=CLASSIFIER_SIZE, mode="bilinear", align_corners=False, antialias=True)
        if self.gray:
            x = (x * LUMA.to(x)).sum(1, keepdim=True).expand(-1, 3, -1, -1)
        if self.hide is not None:
            x = x * (1 - self.hide)  # 0 is mid grey in [-1, 1]
        return self.head(self.features(x).mean((2, 3)))


class JudgeEnsemble(nn.Module):
    """Judges trained alike from other seeds, read as one by averaging their logits. Judges that read real faces
    alike read edited faces tens of points apart; measured, two ensembles of three still did (README)."""

    def __init__(self, judges: list[DomainClassifier]) -> None:
        super().__init__()
        self.judges = nn.ModuleList(judges)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([j(x) for j in self.judges]).mean(0)


def shown(x: torch.Tensor, inside: torch.Tensor | np.ndarray | None) -> torch.Tensor:
    """``x`` (N×3×S×S in [-1, 1]) mid grey where ``inside`` (N×1×S×S or S×S: 1 inside the source image, 0 where
    the aligner filled the crop by reflection; arrays count 255 as 1, as `inside_mask`) says the crop lies outside.
    Those pixels are never pasted back into a frame, and on CelebA's loose crops they are most of every crown: a
    judge that sees them reads mirrored hair, in real faces and edits alike."""
    if inside is None:
        raise ValueError("these crops carry no record of what lies inside their source images")
    if isinstance(inside, np.ndarray):
        inside = torch.from_numpy(inside.astype(np.float32) / 255.0)
    return x * inside.to(x)


def train_classifier(crops: Crops, schema: DomainSchema, steps: int, seed: int, progress: bool = True,
                     gray: bool = False, policy: tuple[str, ...] = (), dims: tuple[int, ...] | None = None,
                     desc: str = "judge classifier", sees: int = CLASSIFIER_SIZE, robust: float = 0.0,
                     hide: np.ndarray | None = None, sees_inside: bool = False) -> DomainClassifier:
    """``policy``: augment the training faces as ``--augment`` augments D's inputs (shifted, part blanked), so
    that the judge, like such a D, cannot rest on one small region, and a coloured patch there does not sway it.
    ``robust``: train it on adversarial faces instead, each pixel moved up to that many grey levels (of 255) in
    the direction that most raises its loss (FGSM from a random start: Wong et al. 2020, "Fast is better than
    free"), at about twice the cost a step. ``hide``: as `DomainClassifier`'s. ``sees_inside``: each training face
    is mid grey where its crop lies outside its source image (`shown`), before it is augmented."""
    torch.manual_seed(seed)
    clf = DomainClassifier(schema.cls_dim, gray, dims or JUDGE_DIMS, sees, hide)
    opt = torch.optim.Adam(clf.parameters(), 1e-3)
    gen = torch.Generator().manual_seed(seed)
    stream = batches(crops, 32, gen)
    eps = 2 * robust / 255  # grey levels → the [-1, 1] scale of the crops
    for _ in tqdm(range(steps), desc=desc, unit="it", disable=not progress, leave=False):
        x, y, set_index, inside = next(stream)
        x = augment(shown(x, inside) if sees_inside else x, policy, gen)
        if eps > 0:
            delta = ((torch.rand(x.shape, generator=gen) * 2 - 1) * eps).requires_grad_(True)
            attack = classification_loss(clf((x + delta).clamp(-1, 1)), y[:, :schema.cls_dim], schema, set_index)
            (grad,) = torch.autograd.grad(attack, delta)
            x = (x + (delta + 1.25 * eps * grad.sign()).clamp(-eps, eps)).clamp(-1, 1).detach()
        loss = classification_loss(clf(x), y[:, :schema.cls_dim], schema, set_index)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return clf.eval()


def cached_judge(cache_dir: Path, train: Crops, schema: DomainSchema, steps: int, seed: int, progress: bool,
                 gray: bool, policy: tuple[str, ...] = (), dims: tuple[int, ...] = JUDGE_DIMS,
                 name: str = "judge", sees: int = CLASSIFIER_SIZE, robust: float = 0.0,
                 hide: np.ndarray | None = None, sees_inside: bool = False) -> DomainClassifier:
    """The judge for these training crops and settings, trained once and kept in the crop cache, so that models
    compared on one dataset (e.g. two recipes) are judged by the very same classifier. Its name carries a digest
    of the labels and the schema: one cache can serve several attribute sets of the same images (hair only, hair
    + gender + age), and each must get a judge of its own. ``name``, ``dims``, ``sees``, ``robust``: other
    classifiers kept alike (`train/guide.py`'s); ``hide``: one that does not see part of the crop (named for it);
    ``sees_inside``: one trained on what of each crop lies inside its source image (`shown`)."""
    digest = hashlib.sha256(np.ascontiguousarray(train.labels).tobytes())
    digest.update(json.dumps(schema.to_json()).encode())
    widths = "" if dims == JUDGE_DIMS else "-w" + "x".join(map(str, dims[1:]))
    widths += "" if sees == CLASSIFIER_SIZE else f"-s{sees}"
    widths += f"-r{robust:g}" if robust > 0 else ""
    if hide is not None:
        widths += "-hides" + hashlib.sha256(np.ascontiguousarray(hide, np.float32).tobytes()).hexdigest()[:8]
    widths += "-inside" if sees_inside else ""
    key = (f"{name}-{len(train.labels)}x{train.images.shape[1]}-{digest.hexdigest()[:12]}-{steps}-{seed}-"
           f"{'gray' if gray else 'rgb'}{''.join('-' + p for p in policy)}{widths}.pt")
    path = cache_dir / key
    if path.exists():
        judge = DomainClassifier(schema.cls_dim, gray, dims, sees, hide)
        judge.load_state_dict(torch.load(path, weights_only=True))
        return judge.eval()
    with torch.enable_grad():
        judge = train_classifier(train, schema, steps, seed, progress, gray, policy, dims, f"{name} classifier",
                                 sees, robust, hide, sees_inside)
    torch.save(judge.state_dict(), path.with_suffix(".part"))
    path.with_suffix(".part").replace(path)
    return judge


class IdentityJudge:
    """dlib's face recognition network: a 128-d descriptor per face; two faces are the same person below 0.6."""

    def __init__(self) -> None:
        import dlib

        from stylize.pipeline.detect import dlib_model_file
        self._dlib = dlib
        self._net = dlib.face_recognition_model_v1(str(dlib_model_file("dlib_face_recognition_resnet_model_v1.dat")))

    def descriptor(self, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        d = self._dlib
        x0, y0 = landmarks.min(0)
        x1, y1 = landmarks.max(0)
        shape = d.full_object_detection(d.rectangle(int(x0), int(y0), int(x1), int(y1)),
                                        [d.point(int(round(x)), int(round(y))) for x, y in landmarks])
        return np.asarray(self._net.compute_face_descriptor(np.ascontiguousarray(rgb), shape))


@dataclass
class Edit:
    """One asked change of one held-out image: which group, which value, and the full label vector."""

    group: str
    value: str
    target: np.ndarray


def edits_of(schema: DomainSchema, label: np.ndarray, set_index: int, keep_own: bool = False) -> list[Edit]:
    """Every other value of every group of the image's label set, the rest of the label kept (``keep_own``: the
    image's own values of one-hot groups too, as the grid shows them)."""
    own = schema.decode(label, set_index)
    out = []
    for g in schema.label_sets[set_index].groups:
        for v in g.values:
            if v != own[g.name] or (keep_own and g.kind == "onehot"):
                out.append(Edit(g.name, v, schema.encode({**own, g.name: v}, set_index)))
    return out


def edit_as_stylize(G: nn.Module, sample: LoadedSample, edits: list[Edit], weights: dict[str, np.ndarray | None],
                    keep_detail: bool, strength: float = 1.0, passes: int = 1,
                    colour_blur: float = 0.0, feather: float = FEATHER) -> tuple[torch.Tensor, list[np.ndarray]]:
    """Every edit of one sample made as `stylize` makes it: G's change at model size (`translate.model_change`: its
    colour blurred by ``colour_blur``, scaled by ``strength``, weighted by its group's region, ``weights``:
    `regions.edit_region` per group, None for everywhere), pasted at full resolution. ``passes`` above 1: G asked
    again for the same target on its own edited crop (as `stylize` run on its own output, on the same alignment), the
    passes' changes summed; ``feather``: as `apply_edit`'s. Returns G's first outputs (for the cycle) and the edited
    full images, in the order of ``edits``."""
    targets = torch.from_numpy(np.stack([e.target for e in edits]))
    crop = sample.crop.astype(np.float32)
    change = np.zeros((len(edits), *crop.shape), np.float32)
    fake = None
    for _ in range(passes):
        current = np.clip(np.rint(crop + change), 0, 255).astype(np.uint8)  # a crop, as the pipeline holds one
        out = G(to_tensor(current), targets)
        fake = out if fake is None else fake
        generated = to_grey_levels(out)
        change += np.stack([model_change(g, c, weights[e.group], strength, colour_blur)
                            for g, c, e in zip(generated, current, edits, strict=True)])
    return fake, [apply_edit(sample, c, keep_detail, feather) for c in change]


def apply_edit(sample: LoadedSample, change: np.ndarray, keep_detail: bool, feather: float = FEATHER) -> np.ndarray:
    """The full-resolution image with the model-size ``change`` pasted as the video path pastes it; ``feather``: the
    share of the crop over which a face's paste fades out toward the crop's edge (`composite.feather_mask`; 0 for a
    whole-image model, as `StyleModel.paste_settings` gives it)."""
    edited = sample.image.copy()
    face = Face(np.zeros((5, 2), np.float32), (0, 0, 0, 0), transform=sample.transform, crop=sample.crop,
                change=change, keep_detail=keep_detail, feather=feather)
    paste_face(edited, face)
    return edited


def painted_and_shaded(before: np.ndarray, after: np.ndarray, where: np.ndarray) -> tuple[float, float]:
    """The shares of ``where`` (S×S bools) whose colour moved by more than PAINTED from ``before`` to ``after``
    (S×S×3 uint8 RGB crops; the distance in Lab's a*b* plane, so a face lit or darkened alone counts nothing) and
    whose lightness fell by more than SHADED."""
    before, after = (cv2.cvtColor(im, cv2.COLOR_RGB2LAB).astype(np.float32) for im in (before, after))
    painted = np.linalg.norm(after[..., 1:] - before[..., 1:], axis=-1) > PAINTED
    shaded = before[..., 0] - after[..., 0] > SHADED
    return float(painted[where].mean()), float(shaded[where].mean())


def vivid_share(before: np.ndarray, after: np.ndarray) -> float:
    """The share of the crop (S×S×3 uint8 RGB) whose Lab chroma ``after`` is past VIVID and past its own ``before``
    by more than VIVID_RISE: colour the edit painted that no hair has, a vivid scarf or lip left as it was not."""
    chroma = [np.hypot(*(cv2.cvtColor(im, cv2.COLOR_RGB2LAB)[..., 1:].astype(np.float32) - 128).transpose(2, 0, 1))
              for im in (before, after)]
    return float(((chroma[1] > VIVID) & (chroma[1] > chroma[0] + VIVID_RISE)).mean())


def spilled(before: np.ndarray, after: np.ndarray, backdrop: np.ndarray) -> float:
    """The share of ``backdrop`` (S×S bools: the crop beside and above the head) whose Lab colour the edit moved by
    more than SPILL: a glow round the head, a blob on the wall. No edit has business there."""
    before, after = (cv2.cvtColor(im, cv2.COLOR_RGB2LAB).astype(np.float32) for im in (before, after))
    return float((np.linalg.norm(after - before, axis=-1) > SPILL)[backdrop].mean())


def layout_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two RGB crops' luminance at 16x16: high while the face keeps its layout."""
    small = [cv2.resize(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY), (LAYOUT_SIZE, LAYOUT_SIZE),
                        interpolation=cv2.INTER_AREA).astype(np.float64).ravel() for x in (a, b)]
    if small[0].std() == 0 or small[1].std() == 0:
        return 0.0
    return float(np.corrcoef(*small)[0, 1])


def axis_power(planes: np.ndarray) -> np.ndarray:
    """Power of ``planes`` (N×H×W, square; windowed, so the border is no edge) summed over them, by radius in the
    upper half of the spectrum (one row per whole frequency from a quarter to a half of the side): on the two axes
    (straight horizontal or vertical strokes), and off them (a few frequencies clear, so a stroke's spread along its
    axis does not count). By radius, since a blur damps every direction at one radius alike."""
    planes = planes.astype(np.float64)
    n = planes.shape[-1]
    planes = (planes - planes.mean(axis=(1, 2), keepdims=True)) * np.outer(np.hanning(n), np.hanning(n))
    power = (np.abs(np.fft.fft2(planes)) ** 2).sum(0)
    k = np.abs(np.fft.fftfreq(n, 1 / n))
    ky, kx = np.meshgrid(k, k, indexing="ij")
    radius, least = np.rint(np.hypot(ky, kx)), np.minimum(ky, kx)
    return np.array([[power[(radius == r) & (least == 0)].mean(), power[(radius == r) & (least > n / 16)].mean()]
                     for r in range(n // 4, n // 2 + 1)])


def stripe_power(crops: np.ndarray) -> np.ndarray:
    """``axis_power`` of RGB crops' luminance."""
    return axis_power(np.stack([cv2.cvtColor(c, cv2.COLOR_RGB2GRAY) for c in crops]))


def axis_ratio(power: np.ndarray) -> float:
    """On-axis over off-axis power (``axis_power``'s rows), as a geometric mean over the radii: about 2 for photos."""
    return float(np.exp(np.mean(np.log(power[:, 0] / np.maximum(power[:, 1], 1e-12)))))


def plaid(edits: dict[str, np.ndarray], real: dict[str, np.ndarray]) -> dict[str, float]:
    """Per target: the edits' ``axis_ratio`` over real faces' of that value."""
    return {k: round(axis_ratio(v) / axis_ratio(real[k]), 2) for k, v in sorted(edits.items())
            if k in real and (v > 0).all() and (real[k] > 0).all()}


def rate(values: list[float]) -> float:
    return round(float(np.mean(values)), 4) if values else float("nan")


@dataclass
class Readings:
    """One judge's readings of the held-out faces and their edits, tallied as the eval reports them."""

    judge: DomainClassifier | JudgeEnsemble
    real_hits: dict[str, list[int]] = field(default_factory=dict)
    per_target: dict[str, list[int]] = field(default_factory=dict)
    from_own: dict[str, list[int]] = field(default_factory=dict)  # split by the face's own value
    kept: dict[str, list[int]] = field(default_factory=dict)
    kept_by_target: dict[str, list[int]] = field(default_factory=dict)  # split by the asked value

    def read(self, schema: DomainSchema, crops: np.ndarray, own: dict[str, str], edits: list[Edit],
             real: list[int], set_index: int, inside: np.ndarray | None = None) -> None:
        """``crops``: the unedited face then each edit's; ``real``: the edits that ask for another value;
        ``inside``: the judge sees only what lies inside the source image (`shown`), or all when None."""
        x = to_tensor(crops)
        before, *after = self.judge(x if inside is None else shown(x, inside)).numpy()
        seen = schema.decode(before, set_index)
        for g, v in own.items():
            self.real_hits.setdefault(g, []).append(int(seen[g] == v))
            self.real_hits.setdefault(f"{g}={v}", []).append(int(seen[g] == v))
        for k in real:
            e, read = edits[k], schema.decode(after[k], set_index)
            self.per_target.setdefault(f"{e.group}={e.value}", []).append(int(read[e.group] == e.value))
            self.from_own.setdefault(f"{e.group}={e.value} from {own[e.group]}", []).append(
                int(read[e.group] == e.value))
            for h in read:
                if h != e.group:
                    self.kept.setdefault(f"{h} when {e.group} asked", []).append(int(read[h] == seen[h]))
                    self.kept_by_target.setdefault(f"{h} when {e.group}={e.value} asked", []).append(
                        int(read[h] == seen[h]))

    def figures(self) -> dict:
        hits = [h for v in self.per_target.values() for h in v]
        return {
            "target_accuracy": rate(hits),
            "per_target": {k: rate(v) for k, v in sorted(self.per_target.items())},
            "per_target_by_source": {k: [rate(v), len(v)] for k, v in sorted(self.from_own.items())},
            "others_kept": {k: rate(v) for k, v in sorted(self.kept.items())},
            # per asked value: gray hair may rightly read older, blond hair younger or more female
            "others_kept_by_target": {k: [rate(v), len(v)] for k, v in sorted(self.kept_by_target.items())},
            # per group, and per value: how often the judge reads real faces of that value right, the ceiling of
            # what "target reached" can show for that value
            "judge_accuracy_on_real_test": {k: rate(v) for k, v in sorted(self.real_hits.items())},
        }


def transplanted_groups(schema: DomainSchema) -> list[Group]:
    """The one-hot groups whose edits stay outside the inner face (hair): the ones `transplant_ceiling` reads."""
    return [g for g in schema.groups if g.name in OUTSIDE_FACE_GROUPS and g.kind == "onehot"]


@torch.no_grad()
def transplant_ceiling(judge: DomainClassifier | JudgeEnsemble, schema: DomainSchema, crops: np.ndarray,
                       owns: list[dict[str, str]], sets: list[int], inner: np.ndarray, seed: int = 0,
                       insides: np.ndarray | None = None) -> dict[str, list]:
    """How often ``judge`` reads the asked value of a hair group on a real face whose inner face (``inner``, 1
    there) is the face's own and everything else, hair and backdrop, another held-out face's that has the value:
    about what a perfect hair edit kept out of the inner face, as `--region auto` keeps one, would read (the judge
    also reads the face: blond goes with light eyes and skin in CelebA). Per "group=value": [rate, count].
    ``crops``: the unedited held-out crops, ``owns`` and ``sets`` their labels; ``insides``: their records of what
    lies inside the source image, for a judge that sees only that (`shown`), or None."""
    rng = np.random.default_rng(seed)
    weight = inner[..., None].astype(np.float32)
    out: dict[str, list] = {}
    for g in transplanted_groups(schema):
        has = np.array([o.get(g.name) for o in owns], dtype=object)
        for v in g.values:
            donors, faces = np.flatnonzero(has == v), np.flatnonzero((has != v) & (has != None))  # noqa: E711
            if not len(donors) or not len(faces):
                continue
            given = rng.choice(donors, len(faces))
            mixed = to_tensor(np.rint(weight * crops[faces] + (1 - weight) * crops[given]).astype(np.uint8))
            if insides is not None:
                mixed = shown(mixed, (weight[..., 0] * insides[faces] + (1 - weight[..., 0]) * insides[given])[:, None])
            logits = judge(mixed).numpy()
            hits = [schema.decode(r, sets[i])[g.name] == v for r, i in zip(logits, faces, strict=True)]
            out[f"{g.name}={v}"] = [rate(hits), len(hits)]
    return out


@torch.no_grad()
def evaluate(model: StyleModel, spec: DatasetSpec, cache_dir: Path, classifier_steps: int = 400,
             limit: int | None = None, seed: int | tuple[int, ...] = 0, progress: bool = True, grid: Path | None = None,
             structure_only: bool = False, region: str = "auto", judge_augment: tuple[str, ...] = POLICIES,
             greyscale_judge: bool = True, strength: float = 1.0, passes: int = 1,
             colour_blur: float | None = None, judge_hides_face: bool = False, feather: float | None = None,
             judge_sees_inside: bool = False, apply: str | None = None) -> dict:
    """The figures above on the held-out split; ``grid``: also save a PNG of a few held-out images (each row: the
    input, every value of each one-hot group, each binary group flipped), cut from the full-resolution edits;
    ``structure_only``: the judge sees greyscale images; ``region``: as `stylize --region` (auto keeps hair edits
    out of the inner face, pipeline/regions.py); ``judge_augment``: the judge's training augmentation.
    ``greyscale_judge``: a colour judge's figures come with a second judge's that sees luminance only (under
    ``"greyscale_judge"``), since a CNN judge reads colour bands over the eyes as a gender: an edit that both
    read as reached changed the face's structure, not only its colours. ``strength``: as `stylize --strength`;
    ``passes``: G applied that many times over (`edit_as_stylize`; benchmarks/repeat_edit.py); ``colour_blur``: as
    `stylize --colour-blur` (None: the model file's own); ``seed``: the judges' training seed (`cached_judge`);
    several: each judge is the ensemble of those seeds' judges (`JudgeEnsemble`). ``judge_hides_face``: the judges
    see the template's inner face as mid grey, in training and reading: how blond the hair is, not how blond the face
    looks (CelebA's blonds have lighter eyes and skin), for hair edits that `--region auto` keeps off the inner face;
    their gender and age readings then rest on the hair and outline alone. ``feather``: the share of the crop over
    which a face's paste fades toward the crop's edge, as `stylize --feather` (None: the model file's own).
    ``judge_sees_inside``: the judges see mid grey wherever a crop lies outside its source image, in training and
    reading (`shown`): what a pasted edit can show, not the aligner's reflection of it. ``apply``: as `stylize
    --apply`, "change" or "output" (None: the model file's own)."""
    colour_blur, feather = model.paste_settings(colour_blur, feather)
    apply = model.paste_mode(apply)
    keep_detail = apply == "change"
    schema = model.schema
    if schema.to_json() != spec.schema.to_json():
        raise ValueError("the model's domain schema does not match this dataset's")
    try:
        hide = inner_face(spec.alignment, CLASSIFIER_SIZE) if judge_hides_face else None
    except ValueError as e:
        raise ValueError(f"a judge that hides the inner face: {e}") from None
    size = model.image_size
    train = prepare_crops(spec.train, spec.alignment, size, cache_dir, "aligning train")
    seeds = (seed,) if isinstance(seed, int) else tuple(seed)

    def judge(gray: bool) -> DomainClassifier | JudgeEnsemble:
        members = [cached_judge(cache_dir, train, schema, classifier_steps, s, progress, gray, judge_augment,
                                hide=hide, sees_inside=judge_sees_inside) for s in seeds]
        return members[0] if len(members) == 1 else JudgeEnsemble(members)

    judges = [Readings(judge(gray)) for gray in ([structure_only] if structure_only or not greyscale_judge
                                                  else [False, True])]
    G = model.generator.eval()
    face_model = spec.alignment.kind == "face"
    identity = IdentityJudge() if face_model else None
    loader = SampleLoader(spec.alignment, size)
    # where each group's edit may act, as `stylize --region` applies it (regions.py)
    weights = {g.name: edit_region(model.alignment, size, [g.name], region) for g in schema.groups}

    picks = np.arange(len(spec.test))
    if limit is not None and limit < len(picks):
        picks = np.linspace(0, len(picks) - 1, limit).round().astype(int)
    grid_at = set(picks[np.linspace(0, len(picks) - 1, min(GRID_ROWS, len(picks))).round().astype(int)].tolist())
    layout: dict[str, list[float]] = {}
    painted: dict[str, list[float]] = {}
    vivid: dict[str, list[float]] = {}
    spill: dict[str, list[float]] = {}
    shaded: dict[str, list[float]] = {}
    soft_inner = inner_face(spec.alignment, size) if face_model else None
    inner = soft_inner > 0.5 if soft_inner is not None else None
    backdrop = head(spec.alignment, size) < 0.5 if face_model else None
    own_change: dict[str, list[float]] = {}
    stripes_edited: dict[str, np.ndarray] = {}
    stripes_real: dict[str, np.ndarray] = {}
    same, dist, l1, rows = [], [], [], []
    # unedited crops, their labels and inside records, for the hair transplants (`transplant_ceiling`)
    faces, owns, sets, insides = [], [], [], []
    used = 0
    for i in tqdm(picks, desc="evaluating", unit="img", disable=not progress, leave=False):
        s = spec.test[int(i)]
        sample = loader(s)
        if isinstance(sample, str):
            continue
        used += 1
        label = np.asarray(s.label, np.float32)
        own = schema.decode(label, s.set_index)
        edits = edits_of(schema, label, s.set_index, keep_own=True)  # own values: the grid, and what G does to them
        if not edits:
            continue
        x = to_tensor(sample.crop[None])
        fake, edited = edit_as_stylize(G, sample, edits, weights, keep_detail, strength, passes, colour_blur,
                                       feather)
        crops = np.stack([warp_to_crop(im, sample.transform, size) for im in [sample.image, *edited]])
        inside = inside_mask(sample.image.shape[:2], sample.transform, size) if judge_sees_inside else None
        faces.append(crops[0])
        insides.append(inside)
        owns.append(own)
        sets.append(s.set_index)
        real = [k for k, e in enumerate(edits) if own[e.group] != e.value]
        for readings in judges:
            readings.read(schema, crops, own, edits, real, s.set_index, inside)
        rec = G(fake[real], torch.from_numpy(label).expand(len(real), -1))
        l1.append((rec - x).abs().mean().item())
        ref = None
        if identity is not None and sample.landmarks is not None:  # mixed sets: anime faces have no landmarks
            ref = identity.descriptor(sample.image, sample.landmarks)
        for k in set(range(len(edits))) - set(real):  # asked for what the face already has
            own_change.setdefault(f"{edits[k].group}={edits[k].value}", []).append(
                float(np.abs(crops[1 + k].astype(np.float32) - crops[0]).mean()))
        unedited = stripe_power(crops[:1])  # one face, counted under each of its own values
        for g, v in own.items():
            stripes_real[f"{g}={v}"] = stripes_real.get(f"{g}={v}", 0) + unedited
        for k in real:
            key = f"{edits[k].group}={edits[k].value}"
            layout.setdefault(key, []).append(layout_correlation(crops[0], crops[1 + k]))
            if inner is not None:
                moved = painted_and_shaded(crops[0], crops[1 + k], inner)
                painted.setdefault(key, []).append(moved[0])
                vivid.setdefault(key, []).append(vivid_share(crops[0], crops[1 + k]))
                spill.setdefault(key, []).append(spilled(crops[0], crops[1 + k], backdrop))
                shaded.setdefault(key, []).append(moved[1])
            stripes_edited[key] = stripes_edited.get(key, 0) + stripe_power(crops[1 + k:2 + k])
            if ref is not None:
                d = float(np.linalg.norm(identity.descriptor(edited[k], sample.landmarks) - ref))
                dist.append(d)
                same.append(int(d < SAME_PERSON))
        if grid is not None and int(i) in grid_at:
            rows.append(grid_row(sample, spec, edited, max(size, 128)))
    if grid is not None and rows:
        width = max(r.shape[2] for r in rows)  # joint sets: rows of different label sets differ in length
        save_image(torch.cat([F.pad(r, (0, width - r.shape[2]), value=1.0) for r in rows], dim=1), grid)
    main, *second = [r.figures() for r in judges]
    if soft_inner is not None and transplanted_groups(schema):
        held_out = np.stack(faces) if faces else np.zeros((0, size, size, 3), np.uint8)
        held_in = np.stack(insides) if faces and judge_sees_inside else None
        for r, figures in zip(judges, [main, *second], strict=True):  # empty where no face has another value
            figures["judge_on_hair_transplants"] = transplant_ceiling(r.judge, schema, held_out, owns, sets,
                                                                      soft_inner, seeds[0], held_in)
    return {
        "model_steps": model.provenance.get("steps"),
        "test_images": used,
        "applied": APPLIED[apply],
        **{k: main[k] for k in ("target_accuracy", "per_target", "per_target_by_source", "others_kept",
                                "others_kept_by_target")},
        "same_person": rate(same) if same else None,
        "identity_distance_mean": round(float(np.mean(dist)), 4) if dist else None,
        "layout_correlation": {k: rate(v) for k, v in sorted(layout.items())},
        "layout_kept": rate([float(c >= LAYOUT_KEPT) for v in layout.values() for c in v]),
        "plaid": plaid(stripes_edited, stripes_real),
        **({"painted": {k: rate(v) for k, v in sorted(painted.items())}} if painted else {}),
        **({"vivid": {k: rate(v) for k, v in sorted(vivid.items())}} if vivid else {}),
        **({"spill": {k: rate(v) for k, v in sorted(spill.items())}} if spill else {}),
        **({"shaded": {k: rate(v) for k, v in sorted(shaded.items())}} if shaded else {}),
        **({"stained": {k: rate([x > STAINED for x in v]) for k, v in sorted(shaded.items())}} if shaded else {}),
        # mean change, grey levels of 255 over the crop, when asked for the face's own value (a blond asked blond):
        # streaks or a glow that nothing asked for
        "own_value_change": {k: round(float(np.mean(v)), 3) for k, v in sorted(own_change.items())},
        "reconstruction_l1": round(float(np.mean(l1)) if l1 else float("nan"), 4),
        "judge_accuracy_on_real_test": main["judge_accuracy_on_real_test"],
        **({"judge_on_hair_transplants": main["judge_on_hair_transplants"]} if "judge_on_hair_transplants" in main
           else {}),
        "judge_steps": classifier_steps,
        "judge_seed": seeds[0] if len(seeds) == 1 else list(seeds),
        "judge_sees": "greyscale (structure only)" if structure_only else "colour",
        "judge_augment": ",".join(judge_augment) or "none",
        **({"judge_hides_inner_face": True} if judge_hides_face else {}),
        **({"judge_sees_inside_only": True} if judge_sees_inside else {}),
        **({"greyscale_judge": second[0]} if second else {}),
        "region": region,
        "strength": strength,
        **({"passes": passes} if passes > 1 else {}),
        **({"colour_blur": colour_blur} if colour_blur > 0 else {}),
        **({"feather": feather} if feather != FEATHER else {}),
    }


def grid_row(sample: LoadedSample, spec: DatasetSpec, edited: list[np.ndarray], size: int) -> torch.Tensor:
    """One grid row in [0, 1]: the input then each edit, cut at ``size`` px from the full-resolution images."""
    if sample.landmarks is not None:
        from stylize.pipeline.detect import five_points
        m = face_transform(five_points(sample.landmarks), spec.alignment, size)
    else:
        m = whole_image_transform(*sample.image.shape[:2], size)
    crops = np.concatenate([warp_to_crop(im, m, size) for im in [sample.image, *edited]], axis=1)
    return torch.from_numpy(crops).permute(2, 0, 1).float() / 255
