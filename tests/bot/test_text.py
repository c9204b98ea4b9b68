"""Text normalisation at the boundary: NFC, folding, words, stopwords and stems."""

from __future__ import annotations

from bot.text import STOPWORDS, clean, content_words, fold, stem, stems, words


def test_clean_composes_to_nfc_and_strips():
    assert clean("  Cafe\u0301\n") == "Café"
    assert clean("Café") == clean("Cafe\u0301")


def test_fold_is_case_insensitive_and_nfc():
    assert fold(" BERLIN Talks ") == fold("berlin talks")
    assert fold("Straße") == fold("STRASSE")
    assert fold("Cafe\u0301") == fold("CAFÉ")


def test_words_lowercases_and_drops_punctuation():
    assert words("What's NATO—for?! (really)") == ["what", "s", "nato", "for", "really"]
    assert words("\"'*-^:(){};--") == []
    assert words("") == []


def test_words_keeps_letters_of_any_script_and_digits():
    assert words("Київ 2026 café") == ["київ", "2026", "café"]


def test_content_words_drops_stopwords_and_duplicates_in_order():
    assert content_words("What is NATO and what is NATO for?") == ["nato"]
    assert content_words("the berlin talks, the Berlin TALKS") == ["berlin", "talks"]
    assert all(w not in STOPWORDS for w in content_words("why would the us help ukraine"))


def test_content_words_stops_at_the_limit():
    text = " ".join(f"word{i}" for i in range(50))
    assert content_words(text, limit=5) == [f"word{i}" for i in range(5)]
    assert len(content_words(text)) == 32


def test_stem_joins_inflections():
    assert stem("negotiating") == stem("negotiations") == stem("negotiate")
    assert stem("guarantees") == stem("guarantee")
    assert stem("talks") != stem("territory")


def test_stems_of_text():
    assert stems("Guarantees, guaranteed!") == {stem("guarantee")}
    assert stems("") == set()
