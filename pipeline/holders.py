"""Whose stance a sentence carries: the text's own, or a party whose view it reports.

"Russia views NATO's expansion as a threat" is Russia's stance toward NATO, not the article's. A
sentence reports a view when it quotes someone ("…," Lavrov said), attributes a statement or a
belief to a named party (X said / believes / views / accused …; according to X), or when the
target is named only inside quotation marks. The first person (I, we) is the text speaking.

Rules on the surface text, no parser: fast, predictable, and measured against hand labels
(docs/models.md, "Holder detection").
"""

from __future__ import annotations

import re

TEXT = "text"
QUOTED = "quoted"

# Verbs that report a statement, a belief or an accusation.
_REPORTING = (
    r"(?:said|says|say|stated|states|state|told|tells|added|adds|noted|notes|stressed|stresses|"
    r"believes?|believed|views?|viewed|considers?|considered|sees|saw|regards?|regarded|"
    r"accused|accuses|accuse|claimed|claims|claim|alleged|alleges|warned|warns|warn|insisted|insists|"
    r"argued|argues|argue|blamed|blames|blame|called|calls|described|describes|denied|denies|deny|"
    r"announced|announces|declared|declares|demanded|demands|urged|urges|condemned|condemns|"
    r"criticized|criticised|criticizes|criticises|praised|praises|welcomed|welcomes|thanked|thanks|"
    r"reported|reports|wrote|writes|maintains|maintained|asserted|asserts|emphasized|emphasised|"
    r"reminded|reminds|assured|assures|hopes|hoped|informed|informs|recalled|recalls|explained|explains|"
    r"expressed|expresses|reaffirmed|reaffirms|reconfirmed|reconfirm|reconfirms|confirmed|confirms|"
    r"pointed out|points out|is convinced|was convinced|are convinced|underlined|underlines|"
    r"highlighted|highlights|mentioned|mentions)"
)
# A party: a run of capitalised words ("Foreign Minister Sergei Lavrov", "the Pentagon", "Russia"),
# optionally with "the" and a possessive-free title, or a first-person pronoun.
_PARTY = r"(?P<party>(?:[Tt]he )?(?:[A-Z][\w'’.-]*)(?: (?:of the |of |the |and )?[A-Z][\w'’.-]*)*|I|We|we)"


def _subject_verb(subject: str) -> re.Pattern:
    """`subject` before its reporting verb: at the start, after a clause break, after "that", or after
    the closing quotation mark of what it said ("…," Andriy Yermak stressed.)."""
    return re.compile(rf"(?:^|[,;:]\s+|[\"”]\s+|\bthat\s+){subject}(?: (?:has|have|had|also|repeatedly|again|once again|openly|separately|further))* {_REPORTING}\b")


_PARTY_VERB = _subject_verb(_PARTY)
# A pronoun that reports a view ("he noted that …", "According to him, …"): a party named in another
# sentence. Checked after the named parties, which win when a sentence has both.
_PRONOUN_VIEWS = (_subject_verb(r"(?:he|she|they)"), re.compile(r"\b[Aa]ccording to (?:him|her|them)\b"))
_VERB_PARTY = re.compile(rf"[,\"”]\s*{_REPORTING} {_PARTY}")
_ACCORDING = re.compile(rf"\b[Aa]ccording to {_PARTY}")
_QUOTE = re.compile(r"[\"“«]([^\"”»]{3,})[\"”»]")
_FIRST_PERSON = {"i", "we"}
_THIRD_PERSON = {"he", "she", "they"}  # a party named in another sentence


def _clean_party(party: str) -> str:
    # A sentence-final full stop is not part of a name ("…," said Lavrov.); initials keep theirs.
    party = party.strip()
    if party.endswith(".") and not re.search(r"\b[A-Z]\.$", party):
        party = party[:-1]
    return re.sub(r"^[Tt]he ", "the ", party)


def holder(sentence: str, spans: list[tuple[int, int]] | None = None) -> str:
    """TEXT, QUOTED, or the name of the party whose view `sentence` reports. `spans`: where the
    target is named in the sentence; a target named only inside quotation marks is a quoted view."""
    for pattern in (_PARTY_VERB, _VERB_PARTY, _ACCORDING):
        m = pattern.search(sentence)
        if m:
            party = _clean_party(m.group("party"))
            if party.lower() in _FIRST_PERSON:
                return TEXT
            return QUOTED if party.lower() in _THIRD_PERSON else party
    if any(p.search(sentence) for p in _PRONOUN_VIEWS):
        return QUOTED
    quotes = [m.span(1) for m in _QUOTE.finditer(sentence)]
    if quotes and spans and all(any(a <= s and e <= b for a, b in quotes) for s, e in spans):
        return QUOTED
    return TEXT
