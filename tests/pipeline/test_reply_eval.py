"""The automatic reply scores on hand-written replies, with the expected values worked out by hand."""

from __future__ import annotations

import pytest

from zero2hero.pipeline.reply_eval import (
    compare_scores,
    normalise,
    score_replies,
    sentence_count,
    token_f1,
    tone_right,
    topic_addressed,
)


def test_normalisation_is_squads() -> None:
    assert normalise("The Tea, was GREAT!  An  apple a day") == "tea was great apple day"


def test_token_f1_counts_shared_words() -> None:
    # prediction [tea, was, great], reference [great, tea, thanks]: 2 shared, precision = recall = 2/3
    assert token_f1("The tea was great!", "great tea, thanks") == pytest.approx(2 / 3)
    # prediction [thank, you, thank, you] vs [thank, you]: 2 shared (counted once each), P = 2/4, R = 2/2 -> 2/3
    assert token_f1("Thank you, thank you", "thank you") == pytest.approx(2 / 3)
    # [sorry] vs [we, are, sorry, about, box]: P = 1, R = 1/5 -> 2 * 0.2 / 1.2 = 1/3
    assert token_f1("Sorry!", "We are sorry about the box.") == pytest.approx(1 / 3)
    assert token_f1("Nothing alike", "different words") == 0.0
    assert token_f1("", "") == 1.0 and token_f1("the a", "tea") == 0.0  # articles alone leave no words


def test_tone_wants_thanks_for_great_and_an_apology_otherwise() -> None:
    assert tone_right("Thanks a lot for the review!", "great")
    assert tone_right("We truly appreciate it.", "great")
    assert not tone_right("We are sorry to hear it.", "great")
    assert tone_right("We apologise for the delay.", "other")
    assert tone_right("So sorry about that.", "other")
    assert not tone_right("Thank you for your review.", "other")  # thanks alone is no apology
    assert not tone_right("", "great")


def test_topic_keywords_count_as_whole_words_or_phrases() -> None:
    assert topic_addressed("Your box arrived late, we know.", ["shipping", "arrived"])
    assert not topic_addressed("Boxes of tea for you", ["box"])  # "boxes" is not the keyword "box"
    assert topic_addressed("It came on time, as promised.", ["on time"])
    assert not topic_addressed("Thank you!", [])


def test_sentences_end_in_a_full_stop_a_question_or_an_exclamation_mark() -> None:
    assert sentence_count("One. Two! Three? Four") == 4
    assert sentence_count("Hello there") == 1
    assert sentence_count("Wow!!! Really...") == 2
    assert sentence_count("   ") == 0


def test_scores_per_reply_and_the_paired_comparison() -> None:
    records = [{"reply": "Thank you for the review!", "sentiment": "great", "topic": "taste"},
               {"reply": "We are sorry the box was crushed.", "sentiment": "other", "topic": "delivery"}]
    keywords = {"taste": ["flavour", "taste"], "delivery": ["box", "crushed"]}
    tuned = score_replies(["Thank you for the review!", "Sorry, the box broke. We will fix it. Promise. Really."],
                          records, keywords)
    # reply 1: identical to its reference (F1 1), thanks (tone 1), no taste word (topic 0), 1 sentence (length 1)
    assert tuned[0] == {"token_f1": 1.0, "tone": 1.0, "topic": 0.0, "length": 1.0}
    # reply 2: words [sorry, box, broke, we, will, fix, it, promise, really] vs [we, are, sorry, box, was, crushed]:
    # 3 shared, P = 3/9, R = 3/6 -> F1 = 2 * (1/3) * (1/2) / (5/6) = 0.4; apology, "box", 4 sentences (too long)
    assert tuned[1] == {"token_f1": pytest.approx(0.4), "tone": 1.0, "topic": 1.0, "length": 0.0}

    baseline = score_replies(["Great.", "Hello."], records, keywords)
    assert [row["tone"] for row in baseline] == [0.0, 0.0]
    compared = compare_scores(tuned, baseline)
    assert set(compared) == {"token_f1", "tone", "topic", "length"}
    assert compared["tone"]["fine_tuned"]["mean"] == 1.0 and compared["tone"]["prompting"]["mean"] == 0.0
    assert compared["tone"]["difference"]["mean"] == 1.0 and compared["tone"]["fine_tuned"]["n"] == 2
    assert compared["token_f1"]["fine_tuned"]["mean"] == pytest.approx(0.7)
    assert compared["tone"]["p_value"] == pytest.approx(0.5)  # McNemar exact: 2 of 2 discordant pairs, two-sided
