"""Whether an enhanced prompt still says what the person asked for: the check run on every answer of A1.

A request's *asked words* are its words other than English's most frequent function words (``the``, ``of``,
``with``: wordfreq's Zipf frequency of 6.5 or more, measured on its shipped corpora, not a list of ours). A word is
*kept* when the answer has a word with a lemma in common (lemminflect's lexicon, which ships its data): ``landing``
is kept by ``lands``, ``leaves`` by ``leaf``, ``kids`` by ``kid``; a synonym is not (``kids`` by ``children``),
so a faithful paraphrase is sometimes counted as lost and A1 asks again or keeps the person's words, never the
reverse. A *borrowed phrase* is a pair of content words of a worked example's answer that an answer repeats and
its request does not have (the examples leaking into an unrelated prompt: "white smoke trailing").
"""

from __future__ import annotations

import functools
import re

FUNCTION_WORD_ZIPF = 6.5
"""Zipf frequency (log10 of uses per billion words) from which a word is a function word: ``the`` 7.7, ``with``
6.9, ``from`` 6.6, ``an`` 6.5; ``two`` (6.1), ``over`` (6.1), ``night`` (5.6) are asked words."""
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def words(text: str) -> list[str]:
    """Lower-case words of ``text``; hyphens and slashes separate words (``neon-lit``: ``neon``, ``lit``)."""
    return _WORD.findall(text.lower())


@functools.cache
def is_function_word(word: str) -> bool:
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en") >= FUNCTION_WORD_ZIPF


@functools.cache
def lemmas(word: str) -> frozenset[str]:
    """The word and every lemma lemminflect knows for it, over all parts of speech."""
    import lemminflect

    found = {word}
    for forms in lemminflect.getAllLemmas(word).values():
        found.update(forms)
    if len(found) == 1:
        for forms in lemminflect.getAllLemmasOOV(word, "NOUN").values():
            found.update(forms)
    return frozenset(found)


def asked_words(text: str) -> list[str]:
    """The words of ``text`` an enhanced prompt must keep, once each, in order."""
    seen: dict[str, None] = {}
    for word in words(text):
        if not is_function_word(word):
            seen.setdefault(word)
    return list(seen)


def lost_words(request: str, answer: str) -> list[str]:
    """The asked words of ``request`` that ``answer`` no longer has in any form."""
    kept = set().union(*(lemmas(word) for word in words(answer))) if answer else set()
    return [word for word in asked_words(request) if not lemmas(word) & kept]


def borrowed_phrases(answer: str, request: str, examples: tuple[tuple[str, str], ...]) -> list[str]:
    """Pairs of asked words, adjacent in a worked example's answer, that ``answer`` repeats and ``request`` lacks."""

    def pairs(text: str) -> set[str]:
        content = [word for word in words(text) if not is_function_word(word)]
        return {f"{a} {b}" for a, b in zip(content, content[1:], strict=False)}

    shown = set().union(*(pairs(answer_text) for _, answer_text in examples)) if examples else set()
    return sorted((pairs(answer) & shown) - pairs(request))
