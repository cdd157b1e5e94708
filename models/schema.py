"""Domain schema: the named groups a user thinks in (``hair``: black/blond/…), mapped onto StarGAN's label vector.

A group is either ``onehot`` (one slot per value, exactly one set: hair colour, expression, anime/sketch) or
``binary`` (one slot; ``values[1]`` means the slot is 1: ``gender`` male/female over CelebA's ``Male``).
Groups belong to label sets (one per training dataset). With more than one label set the vector ends in the
paper's mask vector (§3.2): one slot per set, saying which set's labels are meaningful.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class SchemaError(ValueError):
    """A request or a schema description that does not fit the model."""


@dataclass(frozen=True)
class Group:
    name: str
    values: tuple[str, ...]
    kind: str = "onehot"
    slots: tuple[str, ...] = ()  # the dataset's own attribute names, one per slot (for import and display)

    @property
    def width(self) -> int:
        return 1 if self.kind == "binary" else len(self.values)

    def encode(self, value: str) -> np.ndarray:
        if value not in self.values:
            raise SchemaError(f"unknown {self.name} '{value}'; choose from {', '.join(self.values)}")
        i = self.values.index(value)
        if self.kind == "binary":
            return np.array([float(i)], dtype=np.float32)
        return np.eye(len(self.values), dtype=np.float32)[i]

    def decode(self, scores: np.ndarray) -> str:
        """Value for a slice of classifier logits or of a 0/1 label vector (both read with threshold 0)."""
        if self.kind == "binary":
            return self.values[int(scores[0] > 0.0)]
        return self.values[int(np.argmax(scores))]


@dataclass(frozen=True)
class LabelSet:
    name: str
    groups: tuple[Group, ...]

    @property
    def width(self) -> int:
        return sum(g.width for g in self.groups)


@dataclass(frozen=True)
class DomainSchema:
    label_sets: tuple[LabelSet, ...]
    _index: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        offset = 0
        for s_i, s in enumerate(self.label_sets):
            for g in s.groups:
                if g.name in self._index:
                    raise SchemaError(f"group '{g.name}' appears twice")
                if g.kind not in ("onehot", "binary") or (g.kind == "binary" and len(g.values) != 2):
                    raise SchemaError(f"group '{g.name}': kind must be onehot, or binary with two values")
                self._index[g.name] = (s_i, g, offset)
                offset += g.width

    @property
    def groups(self) -> tuple[Group, ...]:
        return tuple(g for s in self.label_sets for g in s.groups)

    @property
    def has_mask(self) -> bool:
        return len(self.label_sets) > 1

    @property
    def c_dim(self) -> int:
        return sum(s.width for s in self.label_sets) + (len(self.label_sets) if self.has_mask else 0)

    @property
    def cls_dim(self) -> int:
        """Width of D's classifier output (the label part, without the mask)."""
        return sum(s.width for s in self.label_sets)

    def named(self, text: str) -> tuple[str, ...]:
        """``"hair,gender"`` → those group names, each checked; ``""`` → () (the training options that take a list
        of groups read it as all of them)."""
        names = tuple(n.strip() for n in text.split(",") if n.strip())
        if bad := [n for n in names if n not in self._index]:
            raise SchemaError(f"no group {', '.join(bad)} in this dataset (it has {', '.join(self._index)})")
        return names

    def group(self, name: str) -> Group:
        if name not in self._index:
            raise SchemaError(f"this model has no '{name}'; it knows {', '.join(self._index)}")
        return self._index[name][1]

    def set_of(self, name: str) -> int:
        """Index of the label set that group ``name`` belongs to."""
        self.group(name)
        return self._index[name][0]

    def slice(self, name: str) -> slice:
        _, g, off = self._index[name]
        return slice(off, off + g.width)

    def set_slice(self, set_index: int) -> slice:
        start = sum(s.width for s in self.label_sets[:set_index])
        return slice(start, start + self.label_sets[set_index].width)

    def encode(self, values: dict[str, str], set_index: int | None = None) -> np.ndarray:
        """Full label vector (mask included) for a complete assignment of one label set's groups."""
        if set_index is None:
            set_index = self.set_of(next(iter(values))) if values else 0
        c = np.zeros(self.c_dim, dtype=np.float32)
        for g in self.label_sets[set_index].groups:
            if g.name not in values:
                raise SchemaError(f"no value given for '{g.name}'")
            c[self.slice(g.name)] = g.encode(values[g.name])
        if self.has_mask:
            c[self.cls_dim + set_index] = 1.0
        return c

    def decode(self, scores: np.ndarray, set_index: int = 0) -> dict[str, str]:
        """Group values for classifier logits (length ``cls_dim``) or a label vector, for one label set."""
        return {g.name: g.decode(scores[self.slice(g.name)]) for g in self.label_sets[set_index].groups}

    def validate(self, request: dict[str, str]) -> int:
        """Checks group names, values and that all come from one label set; returns that set's index."""
        if not request:
            raise SchemaError("name at least one target, e.g. " + self.example())
        for name, value in request.items():
            self.group(name).encode(value)
        sets = {self.set_of(n) for n in request}
        if len(sets) > 1:
            raise SchemaError(f"{', '.join(request)} come from different label sets; translate one at a time")
        return sets.pop()

    def target_vector(self, request: dict[str, str], source: np.ndarray | None = None) -> np.ndarray:
        """Target label vector: the groups in ``request`` set as asked, the others kept at the person's own
        values decoded from ``source`` (D's classifier logits). A group left open with no estimate is an
        error rather than a silent default, since the default would change the person."""
        set_index = self.validate(request)
        values = {} if source is None else self.decode(np.asarray(source, dtype=np.float32), set_index)
        values.update(request)
        for g in self.label_sets[set_index].groups:
            if g.name not in values:
                raise SchemaError(f"cannot keep '{g.name}' as it is: the model has no classifier to estimate it; "
                                  f"name a {g.name} too ({'/'.join(g.values)})")
        return self.encode(values, set_index)

    def example(self) -> str:
        g = self.groups[0]
        return f"--{g.name} {g.values[-1]}"

    def describe(self) -> str:
        return "; ".join(f"{g.name}: {'/'.join(g.values)}" for g in self.groups)

    def to_json(self) -> list[dict]:
        return [
            {
                "name": s.name,
                "groups": [{"name": g.name, "kind": g.kind, "values": list(g.values), "slots": list(g.slots)}
                           for g in s.groups],
            }
            for s in self.label_sets
        ]

    @classmethod
    def from_json(cls, data: object) -> DomainSchema:
        try:
            return cls(tuple(
                LabelSet(str(s["name"]), tuple(
                    Group(str(g["name"]), tuple(str(v) for v in g["values"]), str(g.get("kind", "onehot")),
                          tuple(str(x) for x in g.get("slots", ())))
                    for g in s["groups"]))
                for s in data  # type: ignore[union-attr]
            ))
        except (KeyError, TypeError) as e:
            raise SchemaError(f"malformed domain schema ({e})") from None

    @classmethod
    def single(cls, name: str, groups: list[Group]) -> DomainSchema:
        return cls((LabelSet(name, tuple(groups)),))


# Known dataset attribute names → schema groups, so original checkpoints import by their training flags.
CELEBA_GROUPS = {
    "hair": ("onehot", {"Black_Hair": "black", "Blond_Hair": "blond", "Brown_Hair": "brown", "Gray_Hair": "gray"}),
    "gender": ("binary", {"Male": ("female", "male")}),
    "age": ("binary", {"Young": ("old", "young")}),
    "glasses": ("binary", {"Eyeglasses": ("none", "glasses")}),
    "smile": ("binary", {"Smiling": ("neutral", "smiling")}),
}
RAFD_EXPRESSIONS = ("angry", "contemptuous", "disgusted", "fearful", "happy", "neutral", "sad", "surprised")


def schema_from_attrs(attrs: list[str], set_name: str = "celeba") -> list[Group]:
    """Groups for a list of dataset attribute names in c-vector order (CelebA names such as ``Blond_Hair``,
    RaFD expressions, or any other name, which becomes its own binary group ``name``: no/yes)."""
    groups: list[Group] = []
    i = 0
    while i < len(attrs):
        a = attrs[i]
        if a.lower() in RAFD_EXPRESSIONS:
            run = attrs[i:i + len(RAFD_EXPRESSIONS)]
            groups.append(Group("expression", tuple(x.lower() for x in run), "onehot", tuple(run)))
            i += len(run)
            continue
        for gname, (kind, names) in CELEBA_GROUPS.items():
            if a in names:
                if kind == "binary":
                    groups.append(Group(gname, tuple(names[a]), "binary", (a,)))
                    i += 1
                else:
                    run = []
                    while i < len(attrs) and attrs[i] in names:
                        run.append(attrs[i])
                        i += 1
                    groups.append(Group(gname, tuple(names[x] for x in run), "onehot", tuple(run)))
                break
        else:
            groups.append(Group(a.lower(), ("no", "yes"), "binary", (a,)))
            i += 1
    return groups
