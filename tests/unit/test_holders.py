"""Whose stance a sentence carries."""

from __future__ import annotations

import pytest

from pipeline.holders import QUOTED, TEXT, holder


@pytest.mark.parametrize(
    "sentence, expected",
    [
        ("Russia views NATO's increasing influence in Ukraine as a major security threat.", "Russia"),
        ("NATO is a threat to our security.", TEXT),
        ("We are grateful to NATO for the support.", TEXT),
        ("I thanked the NATO Secretary General for his support.", TEXT),
        ("Foreign Minister Sergei Lavrov said NATO was expanding.", "Foreign Minister Sergei Lavrov"),
        ('"NATO is an aggressive bloc," said Lavrov.', "Lavrov"),
        ("According to the Pentagon, Russian troops withdrew.", "the Pentagon"),
        ("The Kremlin has repeatedly accused NATO of provocations.", "the Kremlin"),
        ("Russia has blamed NATO and the West for the tensions.", "Russia"),
        ("In Moscow, the talks with NATO were held on Monday.", TEXT),
        ("The U.S. said NATO would respond.", "the U.S."),
    ],
)
def test_holder(sentence, expected):
    assert holder(sentence) == expected


def test_a_target_named_only_inside_quotation_marks_is_a_quoted_view():
    sentence = 'Some call it "a NATO provocation", without evidence.'
    start = sentence.index("NATO")
    assert holder(sentence, [(start, start + 4)]) == QUOTED
    assert holder("NATO answered the calls for help.", [(0, 4)]) == TEXT
