"""Finding the configured targets (Russia, NATO, Ukraine, ...) in cleaned text.

Two signals, merged: alias matches (case-insensitive, on word boundaries, longest
alias first) and NER entities whose label the target accepts and whose text is one of
its aliases. A span found both ways is one mention.
"""

from __future__ import annotations

import bisect
import re

from pipeline.config import Target
from pipeline.documents import Entity, TargetMention

_LEADING_ARTICLE = re.compile(r"^the\s+", re.IGNORECASE)
_POSSESSIVE = re.compile(r"['’]s$")
_SPACES = re.compile(r"\s+")


def _normalise(name: str) -> str:
    return _POSSESSIVE.sub("", _LEADING_ARTICLE.sub("", _SPACES.sub(" ", name.strip()))).casefold()


def sentence_index(sentence_starts: list[int], offset: int) -> int:
    """Index of the sentence containing character `offset`, given sorted sentence starts."""
    return max(bisect.bisect_right(sentence_starts, offset) - 1, 0)


class TargetMatcher:
    def __init__(self, targets: tuple[Target, ...]):
        self.targets = targets
        self._by_alias: dict[str, Target] = {}
        alternatives = []
        for target in targets:
            for alias in target.aliases:
                self._by_alias.setdefault(_normalise(alias), target)
                alternatives.append(alias)
        # One regex for all aliases: a single pass over the text, longest alias wins at a position.
        alternatives.sort(key=len, reverse=True)
        pattern = "|".join(re.escape(a).replace(r"\ ", r"\s+") for a in alternatives)
        self._regex = re.compile(rf"(?<!\w)(?:{pattern})(?!\w)", re.IGNORECASE) if alternatives else None

    def target_of(self, text: str) -> Target | None:
        return self._by_alias.get(_normalise(text))

    def link_entities(self, entities: list[Entity]) -> None:
        """Sets `entity.target` for entities that name a configured target."""
        for entity in entities:
            target = self.target_of(entity.text)
            if target is not None and entity.label in target.entity_labels:
                entity.target = target.name

    def find(self, text: str, sentence_starts: list[int], entities: list[Entity]) -> list[TargetMention]:
        """All mentions of any target, in text order; entities must already be linked."""
        mentions: dict[tuple[int, int], TargetMention] = {}
        if self._regex is not None:
            for match in self._regex.finditer(text):
                target = self.target_of(match.group(0))
                mentions[(match.start(), match.end())] = TargetMention(
                    target.name, match.group(0), match.start(), match.end(), sentence_index(sentence_starts, match.start()), "alias"
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
