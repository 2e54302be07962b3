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
        # The party after the closing quotation mark of what it said.
        ('And the army of a non-NATO country continues to fight," Andriy Yermak stressed.', "Andriy Yermak"),
        # Verbs of press releases: reminded, assured, is convinced, informed, ...
        ("The Head of the President's Office is convinced that the refusal was a mistake.", "the Head of the President's Office"),
        ("Volodymyr Zelenskyy reminded that the budget for healthcare was increased.", "Volodymyr Zelenskyy"),
        # A pronoun that reports a view: a party named in another sentence.
        ("He separately noted the principled position of NATO on the open door policy.", QUOTED),
        ("According to him, this gives Ukraine great opportunities.", QUOTED),
        # A first-person speaker is the text itself, after a quotation too.
        ('"This is our position," we stressed.', TEXT),
        ("He visited the NATO headquarters in Brussels.", TEXT),
    ],
)
def test_holder(sentence, expected):
    assert holder(sentence) == expected


def test_a_target_named_only_inside_quotation_marks_is_a_quoted_view():
    sentence = 'Some call it "a NATO provocation", without evidence.'
    start = sentence.index("NATO")
    assert holder(sentence, [(start, start + 4)]) == QUOTED
    assert holder("NATO answered the calls for help.", [(0, 4)]) == TEXT
