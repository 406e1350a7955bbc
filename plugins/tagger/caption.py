"""Tags and their confidences -> one sentence, plain or as an image prompt.

The vocabulary, the groups and the thresholds come from the model's manifest
(or the caller's parameters); this module only holds the sentence templates and
the English words for the tags it knows (an unknown tag is spoken as its name,
underscores as spaces). The same probabilities always give the same sentence:
every choice is ordered by (confidence, vocabulary position).

- An exclusive group (all but :data:`MULTI_LABEL_GROUPS`) contributes its most
  confident tag, and only when that tag is at or above its threshold.
- A multi-label group (the instruments) contributes every tag at or above its
  threshold, most confident first.

``plain``:  "a fast, loud piece for strings and piano in a minor key"
``prompt``: "an image evoking a fast, loud piece for strings and piano in a minor key, loud, fast, minor key,
strings and piano" (the chosen tags again, most confident first: image generators weigh early words more)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from bridge.api import ConfigError

STYLES = ("plain", "prompt")
SILENCE = "silence"
MULTI_LABEL_GROUPS = ("instrument",)
#: groups spoken as adjectives before the noun, in this order (unknown groups follow, in manifest order)
ADJECTIVE_ORDER = ("tempo", "dynamics", "density", "articulation", "register")
WORDS = {"medium": "moderate", "low": "low-pitched", "high": "high-pitched", "synth_pad": "synth pad",
         "solo": "solo", "ensemble": "ensemble"}
NOUNS = {"solo": "solo piece", "ensemble": "ensemble piece"}   # texture turns "piece" into these
KEYWORDS = {"major": "major key", "minor": "minor key", "medium": "moderate tempo", "low": "low register",
            "high": "high register", "synth_pad": "synth pad"}
NOUN = "piece"
EMPTY = "a piece of music"
PROMPT_LEAD = "an image evoking"


def word(tag: str) -> str:
    return WORDS.get(tag, tag.replace("_", " "))


def keyword(tag: str) -> str:
    return KEYWORDS.get(tag, tag.replace("_", " "))


def join_and(items: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def article(text: str) -> str:
    return ("an " if text[:1].lower() in "aeiou" else "a ") + text


@dataclass(frozen=True)
class Choice:
    group: str
    tag: str
    confidence: float


class Captioner:
    """Chooses tags by group and threshold and speaks them; ``sentence(probabilities, style)``."""

    def __init__(self, tags: Sequence[str], groups: Mapping[str, Sequence[str]], thresholds: Mapping[str, float],
                 multi_label: Sequence[str] = MULTI_LABEL_GROUPS, default_threshold: float = 0.5) -> None:
        self.tags = list(tags)
        self.groups = {g: list(ts) for g, ts in groups.items()}
        self.thresholds = {t: float(thresholds.get(t, default_threshold)) for t in self.tags}
        self.multi_label = set(multi_label)
        self.order = {t: i for i, t in enumerate(self.tags)}

    def with_thresholds(self, overrides: Mapping[str, float]) -> "Captioner":
        """A copy with some thresholds replaced (``{"*": p}`` sets every tag's)."""
        for t, p in overrides.items():
            if t != "*" and t not in self.order:
                raise ConfigError(f"threshold for unknown tag {t!r} (tags: {', '.join(self.tags)})")
            if not 0.0 <= float(p) <= 1.0:
                raise ConfigError(f"threshold for {t} must be in range 0..1, got {p}")
        base = {t: float(overrides.get("*", p)) for t, p in self.thresholds.items()}
        base.update({t: float(p) for t, p in overrides.items() if t != "*"})
        return Captioner(self.tags, self.groups, base, tuple(self.multi_label))

    def _conf(self, probabilities: Mapping[str, float] | Sequence[float], tag: str) -> float:
        if isinstance(probabilities, Mapping):
            return float(probabilities.get(tag, 0.0))
        return float(probabilities[self.order[tag]])

    def choose(self, probabilities: Mapping[str, float] | Sequence[float]) -> list[Choice]:
        """The chosen tags, group by group (manifest order), each group's most confident first."""
        chosen: list[Choice] = []
        for group, tags in self.groups.items():
            ranked = sorted(((self._conf(probabilities, t), t) for t in tags), key=lambda c: (-c[0], self.order[c[1]]))
            above = [(p, t) for p, t in ranked if p >= self.thresholds[t]]
            if group not in self.multi_label:
                above = above[:1] if ranked and above and above[0] == ranked[0] else []
            chosen += [Choice(group, t, p) for p, t in above]
        return chosen

    def sentence(self, probabilities: Mapping[str, float] | Sequence[float], style: str = "plain",
                 silent: bool = False) -> str:
        if style not in STYLES:
            raise ConfigError(f"style must be one of {', '.join(STYLES)}, got {style!r}")
        if silent:
            return SILENCE
        return speak(self.choose(probabilities), style, self.multi_label)


def speak(chosen: Sequence[Choice], style: str = "plain", multi_label: Sequence[str] = MULTI_LABEL_GROUPS) -> str:
    """The sentence for already chosen tags (see the module doc for the templates)."""
    by_group: dict[str, list[Choice]] = {}
    for c in chosen:
        by_group.setdefault(c.group, []).append(c)
    noun = NOUN
    texture = by_group.pop("texture", [])
    if texture:
        noun = NOUNS.get(texture[0].tag, f"{word(texture[0].tag)} {NOUN}")
    mode = by_group.pop("mode", [])
    instruments = [c for g in multi_label for c in by_group.pop(g, [])]
    groups = [g for g in ADJECTIVE_ORDER if g in by_group] + [g for g in by_group if g not in ADJECTIVE_ORDER]
    adjectives = [word(c.tag) for g in groups for c in by_group[g]]
    if not (adjectives or instruments or mode or texture):
        plain = EMPTY
    else:
        plain = article(", ".join(adjectives + [noun]) if adjectives else noun).replace(f", {noun}", f" {noun}")
        if instruments:
            plain += " for " + join_and([word(c.tag) for c in instruments])
        if mode:
            plain += f" in {article(word(mode[0].tag))} key"
    if style == "plain":
        return plain
    ranked = sorted((c for c in chosen if c.group not in multi_label), key=lambda c: -c.confidence)
    keywords = [keyword(c.tag) for c in ranked]
    if instruments:
        keywords.append(join_and([word(c.tag) for c in instruments]))
    return ", ".join([f"{PROMPT_LEAD} {plain}"] + keywords)
