"""aggregate_sentiment / aggregate_stance, checked against numbers worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

import dataclasses

from pipeline.config import StanceConfig
from pipeline.documents import Sentiment, Stance, StanceUnit
from pipeline.stages.sentiment import aggregate_sentiment
from pipeline.stages.stance import aggregate_stance as _aggregate_stance


def units(probs, texts, holders=None):
    holders = holders or ["text"] * len(texts)
    return [StanceUnit("T", i, 0, 1, t, "neutral", tuple(p), h) for i, (p, t, h) in enumerate(zip(probs, texts, holders))]


def aggregate_stance(target, probs, texts, mentions, evidence, holders=None, **cfg):
    """The stage's aggregation over units made from rows of probabilities."""
    if "holders_mode" in cfg:
        cfg["holders"] = cfg.pop("holders_mode")
    config = dataclasses.replace(StanceConfig(), evidence=evidence, **cfg)
    return _aggregate_stance(target, units(probs, texts, holders), mentions, config)

# Columns: sentiment (negative, neutral, positive); stance (against, neutral, favor).


def test_sentiment_length_weighted_mean():
    probs = np.array([[0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    weights = np.array([3.0, 1.0])
    # mean = (3*[.1,.2,.7] + [.6,.3,.1]) / 4 = [.9, .9, 2.2] / 4 = [.225, .225, .55]
    s = aggregate_sentiment(probs, weights)
    assert s.label == "positive"
    assert s.score == pytest.approx(0.55 - 0.225)  # 0.325
    assert s.confidence == pytest.approx(0.55)
    assert isinstance(s.score, float) and isinstance(s.confidence, float)


def test_sentiment_weights_can_flip_the_label():
    probs = np.array([[0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    # Weights 1 and 3: mean = ([.1,.2,.7] + 3*[.6,.3,.1]) / 4 = [1.9, 1.1, 1.0] / 4 = [.475, .275, .25]
    s = aggregate_sentiment(probs, np.array([1.0, 3.0]))
    assert (s.label, s.score, s.confidence) == ("negative", pytest.approx(0.25 - 0.475), pytest.approx(0.475))


def test_sentiment_single_sentence_is_itself():
    s = aggregate_sentiment(np.array([[0.2, 0.5, 0.3]]), np.array([42.0]))
    assert s == Sentiment("neutral", pytest.approx(0.1), pytest.approx(0.5))


def test_sentiment_scale_of_weights_does_not_matter():
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.2, 0.6], [0.1, 0.8, 0.1]])
    a = aggregate_sentiment(probs, np.array([10.0, 20.0, 30.0]))
    b = aggregate_sentiment(probs, np.array([1.0, 2.0, 3.0]))
    # mean = ([.7,.2,.1] + 2*[.2,.2,.6] + 3*[.1,.8,.1]) / 6 = [1.4, 3.0, 1.6] / 6
    assert a.label == b.label == "neutral"
    assert a.score == pytest.approx(b.score) == pytest.approx((1.6 - 1.4) / 6)
    assert a.confidence == pytest.approx(0.5)


def test_sentiment_tie_takes_the_first_label():
    s = aggregate_sentiment(np.array([[0.4, 0.2, 0.4]]), np.array([1.0]))
    assert s.label == "negative" and s.score == pytest.approx(0.0)


def test_stance_confidence_weighted_mean_and_evidence():
    probs = np.array([[0.8, 0.1, 0.1], [0.2, 0.2, 0.6], [0.5, 0.4, 0.1]])
    sentences = ["s0 against", "s1 favor", "s2 mild against"]
    # Weights are each row's max: .8, .6, .5 (sum 1.9).
    # .8*[.8,.1,.1] + .6*[.2,.2,.6] + .5*[.5,.4,.1] = [1.01, .40, .49]; mean = that / 1.9
    st = aggregate_stance("Russia", probs, sentences, mentions=4, evidence=2)
    assert st.target == "Russia" and st.stance == "against" and st.mentions == 4
    assert st.score == pytest.approx((0.49 - 1.01) / 1.9)  # -0.27368...
    assert st.confidence == pytest.approx(1.01 / 1.9)  # 0.53158...
    # Evidence: the sentences most "against" first: .8 (s0), .5 (s2).
    assert st.evidence == ["s0 against", "s2 mild against"]


def test_stance_favor():
    probs = np.array([[0.1, 0.3, 0.6], [0.05, 0.15, 0.8]])
    # weights .6, .8 (sum 1.4): .6*[.1,.3,.6] + .8*[.05,.15,.8] = [.10, .30, 1.00]; / 1.4
    st = aggregate_stance("NATO", probs, ["a", "b"], mentions=2, evidence=3)
    assert st.stance == "favor"
    assert st.score == pytest.approx(0.9 / 1.4)
    assert st.confidence == pytest.approx(1.0 / 1.4)
    assert st.evidence == ["b", "a"]  # more than there are sentences: all of them, strongest first


def test_stance_confident_sentence_outweighs_hesitant_ones():
    # Two hesitant "favor" sentences and one confident "against": plain averaging would say favor.
    probs = np.array([[0.0, 0.4, 0.6], [0.0, 0.4, 0.6], [0.9, 0.1, 0.0]])
    assert probs.mean(axis=0).argmax() == 2  # plain mean: [.3, .3, .4]
    # weights .6, .6, .9 (sum 2.1): [0+0+.81, .24+.24+.09, .36+.36+0] = [.81, .57, .72]
    st = aggregate_stance("Ukraine", probs, ["a", "b", "c"], mentions=3, evidence=1)
    assert st.stance == "against"
    assert st.score == pytest.approx((0.72 - 0.81) / 2.1)
    assert st.confidence == pytest.approx(0.81 / 2.1)
    assert st.evidence == ["c"]


def test_stance_evidence_ties_keep_sentence_order_and_zero_evidence():
    probs = np.array([[0.2, 0.6, 0.2]] * 3)
    st = aggregate_stance("NATO", probs, ["x", "y", "z"], mentions=3, evidence=2)
    assert st == Stance("NATO", "neutral", pytest.approx(0.0), pytest.approx(0.6), 3, ["x", "y"])
    assert aggregate_stance("NATO", probs, ["x", "y", "z"], mentions=3, evidence=0).evidence == []


def test_threshold_turns_a_weak_lean_into_neutral():
    probs = np.array([[0.45, 0.35, 0.20]])
    assert aggregate_stance("NATO", probs, ["a"], mentions=1, evidence=1).stance == "against"
    weak = aggregate_stance("NATO", probs, ["a"], mentions=1, evidence=1, threshold=0.5)
    assert weak.stance == "neutral" and weak.score == pytest.approx(-0.25) and weak.confidence == pytest.approx(0.35)


def test_own_statements_decide_before_reported_views():
    # "Russia views NATO as a threat" (reported, against) beside the text's own neutral statement.
    probs = np.array([[0.9, 0.1, 0.0], [0.1, 0.8, 0.1]])
    holders = ["Russia", "text"]
    own_first = aggregate_stance("NATO", probs, ["reported", "own"], mentions=2, evidence=1, holders=holders)
    assert own_first.stance == "neutral" and own_first.evidence == ["own"]
    every = aggregate_stance("NATO", probs, ["reported", "own"], mentions=2, evidence=1, holders=holders, holders_mode="all")
    assert every.stance == "against"


def test_reported_views_decide_when_the_text_says_nothing_itself():
    probs = np.array([[0.9, 0.1, 0.0]])
    st = aggregate_stance("NATO", probs, ["Lavrov said NATO ..."], mentions=1, evidence=1, holders=["Lavrov"])
    assert st.stance == "against"


def test_an_unnamed_target_read_whole_is_not_mentioned_unless_the_text_takes_a_side():
    assert aggregate_stance("Russia", np.array([[0.1, 0.8, 0.1]]), ["tweet"], mentions=0, evidence=1) == Stance(
        "Russia", "not_mentioned", None, None, 0)
    implicit = aggregate_stance("Russia", np.array([[0.7, 0.2, 0.1]]), ["Slava Ukraini"], mentions=0, evidence=1)
    assert implicit.stance == "against" and implicit.mentions == 0 and implicit.evidence == ["Slava Ukraini"]
