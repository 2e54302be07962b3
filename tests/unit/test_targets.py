"""Target matching: aliases on word boundaries, longest first, merged with linked NER entities."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.config import Target, load_config
from pipeline.documents import Entity
from pipeline.targets import TargetMatcher, fold, sentence_index

TARGETS = load_config().targets


@pytest.fixture(scope="module")
def matcher() -> TargetMatcher:
    return TargetMatcher(TARGETS)


def spans(mentions) -> list[tuple]:
    return [(m.target, m.text, m.start, m.end, m.sentence, m.via) for m in mentions]


@pytest.mark.parametrize("offset, expected", [(0, 0), (9, 0), (10, 1), (25, 1), (30, 2), (500, 2)])
def test_sentence_index(offset, expected):
    assert sentence_index([0, 10, 30], offset) == expected


def test_sentence_index_before_first_start_is_zero():
    assert sentence_index([5, 10], 2) == 0


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Russia", "Russia"), ("the Kremlin", "Russia"), ("The  Kremlin", "Russia"), ("KREMLIN", "Russia"),
        ("Russia's", "Russia"), ("Russia’s", "Russia"), ("nato", "NATO"), ("Alliance", "NATO"),
        ("Kyiv", "Ukraine"), ("Volodymyr Zelensky", "Ukraine"), ("Brussels", None), ("Russian", "Russia"),
        ("Russophobia", None), ("the bloc", "NATO"),
    ],
)
def test_target_of(matcher, text, expected):
    target = matcher.target_of(text)
    assert (target.name if target else None) == expected


def test_alias_matches_case_insensitive_on_word_boundaries(matcher):
    text = "Russiagate is not Russia. nato and NATO met; Kievan and Ukrainianness do not count, Kiev does."
    assert spans(matcher.find(text, [0], [])) == [
        ("Russia", "Russia", 18, 24, 0, "alias"),
        ("NATO", "nato", 26, 30, 0, "alias"),
        ("NATO", "NATO", 35, 39, 0, "alias"),
        ("Ukraine", "Kiev", 84, 88, 0, "alias"),
    ]


def test_the_adjective_is_a_mention(matcher):
    # The mention set (datasets/press_mentions) counts "Russian aggression", "Ukrainian soldiers" as naming the country.
    assert spans(matcher.find("Russian-Ukrainian talks resumed.", [0], [])) == [
        ("Russia", "Russian", 0, 7, 0, "alias"),
        ("Ukraine", "Ukrainian", 8, 17, 0, "alias"),
    ]


def test_longest_alias_wins(matcher):
    text = "Vladimir Putin spoke. The Russian Federation and Russian forces replied."
    assert spans(matcher.find(text, [0, 22], [])) == [
        ("Russia", "Vladimir Putin", 0, 14, 0, "alias"),
        ("Russia", "Russian Federation", 26, 44, 1, "alias"),
        ("Russia", "Russian forces", 49, 63, 1, "alias"),
    ]


def test_multi_word_alias_across_a_line_break(matcher):
    text = "Troops of the\nKremlin and the North Atlantic\nTreaty Organization."
    assert spans(matcher.find(text, [0], [])) == [
        ("Russia", "the\nKremlin", 10, 21, 0, "alias"),
        ("NATO", "North Atlantic\nTreaty Organization", 30, 64, 0, "alias"),
    ]


def test_possessive_is_a_mention_of_the_target(matcher):
    assert spans(matcher.find("Ukraine's army advanced.", [0], [])) == [("Ukraine", "Ukraine", 0, 7, 0, "alias")]


def test_link_entities_respects_entity_labels(matcher):
    entities = [Entity("NATO", "ORG", 0, 4, 0), Entity("NATO", "GPE", 0, 4, 0), Entity("Russia", "GPE", 10, 16, 0),
                Entity("Russia", "DATE", 10, 16, 0), Entity("Berlin", "GPE", 20, 26, 0)]
    matcher.link_entities(entities)
    assert [e.target for e in entities] == ["NATO", None, "Russia", None, None]


def test_entity_overlapping_an_alias_is_one_mention(matcher):
    text = "Putin's government said no."
    entities = [Entity("Putin", "PERSON", 0, 5, 0)]
    matcher.link_entities(entities)
    assert entities[0].target == "Russia"
    assert spans(matcher.find(text, [0], entities)) == [("Russia", "Putin's government", 0, 18, 0, "alias")]


def test_entity_only_mention():
    # "the Alliance" is the alias; a bare "Alliance" entity is linked by its normalised name only.
    nato = Target("NATO", ("NATO", "the Alliance"), ("ORG",))
    matcher = TargetMatcher((nato,))
    text = "Officials said so. Alliance ministers met, as did NATO."
    entities = [Entity("Alliance", "ORG", 19, 27, 1), Entity("NATO", "ORG", 50, 54, 1)]
    matcher.link_entities(entities)
    assert spans(matcher.find(text, [0, 19], entities)) == [
        ("NATO", "Alliance", 19, 27, 1, "entity"),
        ("NATO", "NATO", 50, 54, 1, "alias"),
    ]


def test_unlinked_entities_are_ignored(matcher):
    entities = [Entity("Berlin", "GPE", 0, 6, 0)]
    matcher.link_entities(entities)
    assert matcher.find("Berlin spoke.", [0], entities) == []


def test_sentences_assigned_by_offset(matcher):
    text = "Kyiv said yes. Moscow said no. NATO said maybe."
    assert [(m.target, m.sentence) for m in matcher.find(text, [0, 15, 31], [])] == [
        ("Ukraine", 0), ("Russia", 1), ("NATO", 2)]


def test_no_targets_no_mentions():
    matcher = TargetMatcher(())
    entities = [Entity("Russia", "GPE", 0, 6, 0)]
    matcher.link_entities(entities)
    assert entities[0].target is None
    assert matcher.find("Russia", [0], entities) == []


def test_first_target_wins_a_shared_alias():
    a = Target("A", ("A", "Shared"), ("ORG",))
    b = Target("B", ("B", "Shared"), ("ORG",))
    assert [m.target for m in TargetMatcher((a, b)).find("Shared", [0], [])] == ["A"]


def test_regex_special_characters_in_aliases():
    t = Target("C", ("C++", "A.B."), ("ORG",))
    mentions = TargetMatcher((t,)).find("We like C++ and AxB. but A.B. too", [0], [])
    assert [m.text for m in mentions] == ["C++", "A.B."]


# --- case folding beyond ASCII: matching and lookup fold the same way --------------------------


def mention_spans(matcher, text):
    mentions = matcher.find(text, [0], [])
    for m in mentions:
        assert text[m.start:m.end] == m.text
    return [(m.target, m.text) for m in mentions]


def test_dotted_capital_i_alias_matches_every_spelling():
    # With an alias İstanbul, "istanbul" matched the case-insensitive regex but its lookup
    # failed (casefold gives i + U+0307), and NER died with AttributeError on None.name.
    matcher = TargetMatcher((Target("Istanbul", ("İstanbul",), ("GPE",)),))
    text = "istanbul, Istanbul, ISTANBUL, İstanbul and İSTANBUL; not Istanbullu."
    assert mention_spans(matcher, text) == [("Istanbul", w) for w in ("istanbul", "Istanbul", "ISTANBUL", "İstanbul", "İSTANBUL")]
    assert matcher.target_of("ISTANBUL").name == matcher.target_of("i\u0307stanbul").name == "Istanbul"


def test_ascii_alias_matches_dotted_capital_i_text():
    matcher = TargetMatcher((Target("Istanbul", ("Istanbul",), ("GPE",)),))
    text = "Talks in İSTANBUL (and i\u0307stanbul) ended."
    assert mention_spans(matcher, text) == [("Istanbul", "İSTANBUL"), ("Istanbul", "i\u0307stanbul")]


@pytest.mark.parametrize("alias", ["Straße", "Strasse", "STRASSE"])
def test_sharp_s_and_ss_are_one_letter(alias):
    matcher = TargetMatcher((Target("Street", (alias, "Große Straße Nord"), ("ORG",)),))
    # Text before a match folds to more characters than it has (ß -> ss): offsets must still be the text's.
    text = "Großes Fest: die Straße, die STRASSE, die strasse; die Große Strasse Nord."
    assert mention_spans(matcher, text) == [("Street", "Straße"), ("Street", "STRASSE"), ("Street", "strasse"), ("Street", "Große Strasse Nord")]
    assert matcher.target_of("STRASSE").name == matcher.target_of("straße").name == "Street"


def test_greek_sigma_forms_are_one_letter():
    matcher = TargetMatcher((Target("Sisyphus", ("Σίσυφος",), ("PERSON",)),))
    text = "ΣΊΣΥΦΟΣ, σίσυφος, Σίσυφοσ."
    assert mention_spans(matcher, text) == [("Sisyphus", "ΣΊΣΥΦΟΣ"), ("Sisyphus", "σίσυφος"), ("Sisyphus", "Σίσυφοσ")]
    entities = [Entity("ΣΊΣΥΦΟΣ", "PERSON", 0, 7, 0)]
    matcher.link_entities(entities)
    assert entities[0].target == "Sisyphus"


def test_match_must_cover_whole_characters():
    # "waẗ" folds to "wat" + a combining diaeresis, which is not a word character.
    matcher = TargetMatcher((Target("W", ("Wat",), ("ORG",)),))
    assert mention_spans(matcher, "Waẗ and ǰ. Wat.") == [("W", "Wat")]


def test_blank_alias_matches_nothing():
    matcher = TargetMatcher((Target("B", ("  ", "Bee"), ("ORG",)),))
    assert mention_spans(matcher, "A Bee.") == [("B", "Bee")]


SPECIAL = "İIıißSsΣσςﬁŉǰẗKkK ΐ"


@settings(max_examples=200, deadline=None)
@given(
    aliases=st.lists(st.text(alphabet=SPECIAL + "ab", min_size=1, max_size=6), min_size=1, max_size=4),
    picks=st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["upper", "lower", "casefold", "title", "same"]), st.text(alphabet=SPECIAL + "ab .,", max_size=4))),
)
def test_every_alias_match_maps_to_its_target(aliases, picks):
    targets = tuple(Target(f"T{i}", (alias,), ("ORG",)) for i, alias in enumerate(aliases))
    matcher = TargetMatcher(targets)
    # Aliases in other cases, between arbitrary gaps (some of them word boundaries, some not).
    text = "".join((aliases[i % len(aliases)] if how == "same" else getattr(aliases[i % len(aliases)], how)()) + gap for i, how, gap in picks)
    by_name = {t.name: t for t in targets}
    for m in matcher.find(text, [0], []):
        assert text[m.start:m.end] == m.text
        assert " ".join(fold(m.text).split()) in {" ".join(fold(a).split()) for a in by_name[m.target].aliases}
