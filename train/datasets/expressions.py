"""``rafd`` and ``ckplus``: facial-expression sets in their published layouts, one ``expression`` group.

RaFD names carry the label: ``Rafd090_01_Caucasian_female_happy_frontal.jpg`` (angle, subject, ethnicity,
gender, expression, gaze). CK+ has sequences ``cohn-kanade-images/S005/001/S005_001_00000011.png`` and, for
labelled ones, ``Emotion/S005/001/S005_001_00000011_emotion.txt``; its last (peak) frame carries the emotion and
its first frame is neutral. CK+ is also passed around as one folder per expression (``anger/S010_004_00000019.png``,
e.g. the 48 px face crops of the CK+48 derivative); ``ckplus`` reads that layout too. All split by subject, so
nobody is in train and test at once.
"""

from __future__ import annotations

import re
from pathlib import Path

from stylize.models.alignment import CELEBA_TEMPLATE, CKPLUS48_TEMPLATE, Alignment
from stylize.models.schema import RAFD_EXPRESSIONS, DomainSchema, Group

from .base import DatasetError, DatasetSpec, Sample, image_files, seeded_split

RAFD_NAME = re.compile(r"^Rafd(\d{3})_(\d+)_[A-Za-z]+_[A-Za-z]+_([a-z]+)_[a-z]+\.\w+$")
# CK+ emotion codes → the shared expression names
CKPLUS_CODES = {0: "neutral", 1: "angry", 2: "contemptuous", 3: "disgusted", 4: "fearful", 5: "happy", 6: "sad",
                7: "surprised"}
# Folder names of the one-folder-per-expression layout → the shared expression names
CKPLUS_FOLDERS = {"anger": "angry", "contempt": "contemptuous", "disgust": "disgusted", "fear": "fearful",
                  "happy": "happy", "neutral": "neutral", "sadness": "sad", "surprise": "surprised"}
CKPLUS_SUBJECT = re.compile(r"^(S\d+)_")
FACE_ALIGNMENT = Alignment("face", CELEBA_TEMPLATE)


def expression_schema(name: str, values: tuple[str, ...] = RAFD_EXPRESSIONS) -> DomainSchema:
    return DomainSchema.single(name, [Group("expression", values, "onehot", values)])


def split_by_subject(items: list[tuple[str, Sample]], test_fraction: float, seed: int
                     ) -> tuple[list[Sample], list[Sample]]:
    subjects = sorted({s for s, _ in items})
    _, test_subjects = seeded_split(subjects, (1 - test_fraction, test_fraction), seed)
    test_set = set(test_subjects)
    return [x for s, x in items if s not in test_set], [x for s, x in items if s in test_set]


def build_rafd(root: Path, seed: int = 0, test_fraction: float = 0.1, angles: tuple[str, ...] = ("045", "090", "135")
               ) -> DatasetSpec:
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder")
    schema = expression_schema("rafd")
    items, unnamed, other_angle = [], 0, 0
    for path in image_files(root):
        m = RAFD_NAME.match(path.name)
        if m is None or m.group(3) not in RAFD_EXPRESSIONS:
            unnamed += 1
            continue
        if m.group(1) not in angles:
            other_angle += 1
            continue
        label = tuple(float(x) for x in schema.encode({"expression": m.group(3)}))
        items.append((m.group(2), Sample(path, label, align=True)))
    if not items:
        raise DatasetError(f"{root}: no RaFD-named images (e.g. Rafd090_01_Caucasian_female_happy_frontal.jpg)")
    train, test = split_by_subject(items, test_fraction, seed)
    return DatasetSpec("rafd", schema, FACE_ALIGNMENT, train, test,
                       {"images": len(items), "not_rafd_names": unnamed, "other_angles": other_angle},
                       "RaFD: research use under the Radboud Faces Database terms")


def build_ckplus(root: Path, seed: int = 0, test_fraction: float = 0.1) -> DatasetSpec:
    images, emotions = root / "cohn-kanade-images", root / "Emotion"
    if root.is_dir() and not images.is_dir() and any((root / d).is_dir() for d in CKPLUS_FOLDERS):
        return build_ckplus_folders(root, seed, test_fraction)
    if not images.is_dir() or not emotions.is_dir():
        raise DatasetError(f"{root} needs cohn-kanade-images/ and Emotion/ (the CK+ layout) or one folder per "
                           f"expression ({', '.join(CKPLUS_FOLDERS)})")
    schema = expression_schema("ckplus")
    items, bad = [], 0
    for label_file in sorted(emotions.glob("S*/*/*_emotion.txt")):
        try:
            code = int(float(label_file.read_text().split()[0]))
            expression = CKPLUS_CODES[code]
        except (ValueError, IndexError, KeyError):
            bad += 1
            continue
        subject, sequence = label_file.parent.parent.name, label_file.parent.name
        frames = image_files(images / subject / sequence) if (images / subject / sequence).is_dir() else []
        if not frames:
            bad += 1
            continue
        for frame, value in ((frames[-1], expression), (frames[0], "neutral")):
            label = tuple(float(x) for x in schema.encode({"expression": value}))
            items.append((subject, Sample(frame, label, align=True)))
    if not items:
        raise DatasetError(f"{root}: no labelled CK+ sequences found")
    train, test = split_by_subject(items, test_fraction, seed)
    return DatasetSpec("ckplus", schema, FACE_ALIGNMENT, train, test,
                       {"sequences": len(items) // 2, "bad_labels": bad}, "CK+: non-commercial research use only")


def build_ckplus_folders(root: Path, seed: int = 0, test_fraction: float = 0.1) -> DatasetSpec:
    """One folder per expression, subject first in each file name (``S010_006_00000013.png``). The schema holds
    only the expressions present (CK+48 has no neutral frames); crops are tight, so the template is theirs."""
    folders = {d: CKPLUS_FOLDERS[d] for d in CKPLUS_FOLDERS if (root / d).is_dir() and image_files(root / d)}
    values = tuple(v for v in RAFD_EXPRESSIONS if v in folders.values())
    if len(values) < 2:
        raise DatasetError(f"{root}: needs at least two expression folders with images ({', '.join(CKPLUS_FOLDERS)})")
    schema = expression_schema("ckplus", values)
    items, unnamed, counts = [], 0, {}
    for folder, expression in folders.items():
        files = image_files(root / folder)
        counts[expression] = len(files)
        label = tuple(float(x) for x in schema.encode({"expression": expression}))
        for path in files:
            m = CKPLUS_SUBJECT.match(path.name)
            if m is None:
                unnamed += 1
                continue
            items.append((m.group(1), Sample(path, label, align=True)))
    if not items:
        raise DatasetError(f"{root}: no CK+-named images (e.g. S010_006_00000013.png)")
    train, test = split_by_subject(items, test_fraction, seed)
    alignment = Alignment("face", CKPLUS48_TEMPLATE, "CK+48 frames' mean landmarks (tight face crops)")
    return DatasetSpec("ckplus", schema, alignment, train, test, {**counts, "not_ckplus_names": unnamed},
                       "CK+: non-commercial research use only")
