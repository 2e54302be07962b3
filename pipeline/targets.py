"""Finding the configured targets (Russia, NATO, Ukraine, ...) in cleaned text.

Two signals, merged: alias matches (case-insensitive, on word boundaries, longest
alias first) and NER entities whose label the target accepts and whose text is one of
its aliases. A span found both ways is one mention.

Case-insensitive means equal after `fold`: Unicode full case folding (`str.casefold`:
ß and ss, Σ σ and ς are one letter), with the dot of a dotted capital İ dropped so
that İstanbul, Istanbul and ISTANBUL are one name. Alias matching and entity lookup
both use `fold`, and an alias match is mapped to its target by which alias matched,
never by looking its text up again.
"""

from __future__ import annotations

import bisect
import re

from pipeline.config import Target
from pipeline.documents import Entity, TargetMention

_LEADING_ARTICLE = re.compile(r"^the\s+", re.IGNORECASE)
_POSSESSIVE = re.compile(r"['’]s$")
_SPACES = re.compile(r"\s+")


_DOT_ABOVE = "\u0307"


def _fold_with_offsets(text: str) -> tuple[str, list[int] | None]:
    """`fold(text)` and, where it is not one character for one, the index in `text` of
    each folded character (casefold turns ß into two characters and İ into i plus a dot)."""
    folded = text.casefold()
    if len(folded) == len(text) and _DOT_ABOVE not in folded:
        return folded, None
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        for piece in char.casefold():
            if piece == _DOT_ABOVE and chars and chars[-1] == "i":
                continue  # i already has its dot: İ (casefolded to i + U+0307) matches i
            chars.append(piece)
            origin.append(index)
    return "".join(chars), origin


def fold(text: str) -> str:
    """The case folding used for both alias matching and entity lookup (see the module docstring)."""
    return _fold_with_offsets(text)[0]


def _normalise(name: str) -> str:
    return fold(_POSSESSIVE.sub("", _LEADING_ARTICLE.sub("", _SPACES.sub(" ", name.strip()))))


def sentence_index(sentence_starts: list[int], offset: int) -> int:
    """Index of the sentence containing character `offset`, given sorted sentence starts."""
    return max(bisect.bisect_right(sentence_starts, offset) - 1, 0)


class TargetMatcher:
    def __init__(self, targets: tuple[Target, ...]):
        self.targets = targets
        self._by_alias: dict[str, Target] = {}
        by_pattern: dict[str, Target] = {}
        for target in targets:
            for alias in target.aliases:
                self._by_alias.setdefault(_normalise(alias), target)
                words = fold(alias).split()
                if words:
                    by_pattern.setdefault(" ".join(words), target)
        # One regex for all aliases, run over the folded text: a single pass, the longest alias
        # wins at a position, and the group that matched says which alias (and so which target).
        keys = sorted(by_pattern, key=len, reverse=True)
        self._pattern_targets = [by_pattern[k] for k in keys]
        alternatives = "|".join("(" + r"\s+".join(re.escape(w) for w in k.split(" ")) + ")" for k in keys)
        self._regex = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)") if keys else None

    def target_of(self, text: str) -> Target | None:
        return self._by_alias.get(_normalise(text))

    def link_entities(self, entities: list[Entity]) -> None:
        """Sets `entity.target` for entities that name a configured target."""
        for entity in entities:
            target = self.target_of(entity.text)
            if target is not None and entity.label in target.entity_labels:
                entity.target = target.name

    def _alias_spans(self, text: str) -> list[tuple[int, int, Target]]:
        folded, origin = _fold_with_offsets(text)
        spans = []
        for match in self._regex.finditer(folded):
            start, end = match.span()
            if origin is not None:
                # A match must cover whole characters of the text: "wat" is not in "waẗ",
                # although it is in its folding "wat" + U+0308.
                if (start > 0 and origin[start - 1] == origin[start]) or (end < len(origin) and origin[end] == origin[end - 1]):
                    continue
                start, end = origin[start], origin[end] if end < len(origin) else len(text)
            spans.append((start, end, self._pattern_targets[match.lastindex - 1]))
        return spans

    def find(self, text: str, sentence_starts: list[int], entities: list[Entity]) -> list[TargetMention]:
        """All mentions of any target, in text order; entities must already be linked."""
        mentions: dict[tuple[int, int], TargetMention] = {}
        if self._regex is not None:
            for start, end, target in self._alias_spans(text):
                mentions[(start, end)] = TargetMention(
                    target.name, text[start:end], start, end, sentence_index(sentence_starts, start), "alias"
                )
        alias_spans = sorted(mentions)
        alias_starts = [start for start, _ in alias_spans]
        for entity in entities:
            if entity.target is None:
                continue
            # Alias spans do not overlap each other, so only the one starting last before the
            # entity's end can overlap it.
            i = bisect.bisect_left(alias_starts, entity.end) - 1
            if i < 0 or alias_spans[i][1] <= entity.start:
                mentions[(entity.start, entity.end)] = TargetMention(entity.target, entity.text, entity.start, entity.end, entity.sentence, "entity")
        return [mentions[k] for k in sorted(mentions)]
