"""The int8 study's names for an encoder's Linears, for both encoders we use (BERT-style MiniLM, MPNet)."""

from pipeline.classifiers import int8_rule
from scripts.int8_rules import kind, rules

BERT = ["encoder.encoder.layer.0.attention.self.query", "encoder.encoder.layer.0.attention.output.dense",
        "encoder.encoder.layer.0.intermediate.dense", "encoder.encoder.layer.0.output.dense"]
MPNET = ["encoder.encoder.layer.11.attention.attn.q", "encoder.encoder.layer.11.attention.attn.o",
         "encoder.encoder.layer.11.intermediate.dense", "encoder.encoder.layer.11.output.dense"]


def test_each_linear_has_its_kind_and_the_heads_none():
    for names in (BERT, MPNET):
        assert [kind(n) for n in names] == ["attention", "attention", "up", "down"]
    assert kind("heads.mention") is None


def test_each_architecture_keeps_its_fragile_kind_in_fp32_and_the_top_half_rules_skip_lower_layers():
    named = rules(12)
    for name in BERT + ["heads.mention"]:
        assert named["attention + down"](name) == (kind(name) in ("attention", "down")) == int8_rule("bert")(name)
    for name in MPNET + ["heads.mention"]:
        assert named["attention + up"](name) == (kind(name) in ("attention", "up")) == int8_rule("mpnet")(name)
    assert not named["every Linear, top half of the layers"](BERT[0]) and named["every Linear, top half of the layers"](MPNET[2])
    assert [named["attention + up"](n) for n in MPNET] == [True, True, True, False]


def test_an_unknown_rule_name_is_refused_with_the_known_ones(capsys):
    import pytest

    from scripts.int8_rules import main

    with pytest.raises(SystemExit):
        main(["--model", "builtin", "--rule", "everything"])
    assert "unknown rule ['everything']" in capsys.readouterr().err
