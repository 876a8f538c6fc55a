"""References by content: "the kite video", "the rainy one", "the one with the dog", "the sleeping cat".

A phrase is matched against what each artifact shows (its prompt, the task that made it, and, for an edit,
an extension or a connection, what its sources show) by all-MiniLM-L6-v2 cosine plus shared word stems (a
compound's parts and a few everyday kinds count: "snowy" for a snowstorm, "puppy" for a dog). The best
artifact is bound only if it leads the next one by :data:`CONTENT_MARGIN`; otherwise the phrase stays
``unclear`` with its candidates, and the director asks (or, with ``--llm openai``, lets the LLM choose among
them). Nothing is guessed.

Two strengths of phrase: one with an artifact noun ("the kite clip", "the rainy one", "the photo of the
bike") surely points at something, so a near-tie or no match becomes a question; a bare noun phrase ("the
sleeping cat", "the lighthouse") may just be part of an instruction ("make the sky red"), so it counts only
when it shares a word with an artifact and one artifact clearly wins; in a turn that joins clips, right after a
joining word ("from the car one into the juggler"), it names a clip, and the embedding alone may bind it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from mora_agents.director._describe import content
from mora_agents.director._slots import (
    _FIRST_FRAME,
    _FRAME,
    _IMAGE_NOUN,
    _LATEST,
    _ORDINALS,
    _VIDEO_NOUN,
    MediaKind,
    Reference,
    TurnFacts,
    _noun_kind,
)
from mora_agents.messages import SessionArtifact

Encode = Callable[[Sequence[str]], np.ndarray]

CONTENT_MARGIN = 0.12
"""Score lead (cosine + :data:`WORD_WEIGHT` x shared stems) the best artifact needs over the next to be bound."""
WORD_WEIGHT = 0.35
"""Weight of the share of the phrase's content words found in an artifact's description."""
BARE_BESIDE_PRONOUN = 0.85
"""A bare noun phrase beside a pronoun binds only with a score this high (the lighthouse clip for "the
lighthouse"; not a clip with a sky in it for "the sky")."""
MIN_SCORE = 0.30
"""Below this best score a phrase with an artifact noun matches nothing (the director asks, listing all)."""

_NOUNS = rf"(?:{_VIDEO_NOUN}|{_IMAGE_NOUN}|ones?|versions?)"
# Words that never carry content: determiners, pointing words, ordinals, pronouns.
_FUNCTION = set(
    "a an the this that these those my our your his her its their of with in on at by to from for and or but "
    "is are was were be been it one ones some any all both other same again more less very just also please "
    "where which who whom whose that's there here thing stuff showing shows show has have had having about "
    "made make makes did do does i me we you he she they them us into onto over under up down out off as so "
    "then than too now".split()
)
_FUNCTION |= set(_ORDINALS) | {w for words in _LATEST for w in words.split()} | {"before", "after", "two", "three"}
_FUNCTION |= {"later", "earlier", "older", "newer"}  # "the later one goes first": an order, not what it shows
# Where a bare noun phrase ends: prepositions and conjunctions that start the rest of the instruction.
_STOP = (
    r"(?:to|into|onto|with|for|by|and|or|but|then|after|before|so|until|at|in|on|from|of|as|look|looks|like|"
    r"please|pls|more|longer|shorter|again|together|smoothly|should|must|can|could|will|would|is|are|was|be|"
    r"goes|go|comes|come|follows?|followed|needs?|has|have|gets?|\d+)"
)
_WORD = r"(?:[a-z][\w'-]*|\d{2,4}s\b)"  # a word, or a decade ("the 1950s roller coaster")
_JOINS = (
    r"(?:the|an?|of|to|into|onto|and|&|or|but|then|with|for|by|after|before|from|in|on|at|this|that|these|those|it|"
    r"its|my|our|your)"
)
# "the kite clip", "that rainy one", "my dog video" (a noun of an artifact after one to four words).
# "the joined owl and moon video" is one clip; "the owl and the moon" two.
_MODIFIER = rf"(?:(?!{_JOINS}\b){_WORD}|(?:and|&)(?!\s+(?:the|a|an)\b))"
_NOUN_PHRASE = re.compile(
    rf"\b(?:the|that|this|my|our|those|these)\s+(?P<words>(?:{_MODIFIER}\s+){{1,5}}?){_NOUNS}\b",
    re.IGNORECASE,
)
# "the clip of the dog", "the one with the red car", "the video showing a storm".
# Inside "the one where the guy is cooking" a verb is content: only joining words end the phrase there.
_CLAUSE_STOP = (
    r"(?:then|to|into|onto|after|before|for|by|so|please|pls|more|longer|shorter|can|could|make|change|look|looks|"
    r"like|feel|feels|seem|seems|\d+)"
)  # "make the one with the dog look like claymation": the look is the edit, not the clip
_NOUN_OF = re.compile(
    rf"\b(?:the|that|this|my|our)\s+(?P<noun>{_NOUNS})\s+(?:of|with|showing|that shows|where|in which|about|"
    rf"featuring|that has)\s+(?P<words>(?:(?!{_CLAUSE_STOP}\b){_WORD}\s*){{1,7}})",
    re.IGNORECASE,
)
# "lanterns clip is too short", "ok glassblower vid then ...": a noun phrase with no article, at a clause start
# (not a subject and its verb: "i want one combined video" has no "one" that points).
_UNARTICLED = re.compile(
    rf"(?:^|[,;:.!?]|\b(?:ok|so|now|and|then|pls|please)\b)\s*(?!(?:i|we|you|he|she|they)\b)"
    rf"(?P<words>(?:(?!{_JOINS}\b){_WORD}\s+){{1,3}}?){_NOUNS}\b",
    re.IGNORECASE,
)
# Loose words, for a turn that acts on clips: "glassblower then chameleon, stitch em together".
_LOOSE = re.compile(rf"(?P<words>\b(?:(?!{_STOP}\b|the\b|an?\b){_WORD}\s*){{1,3}})", re.IGNORECASE)
# Right before a clip named in a turn that joins clips: "... into the juggler", "connect it to the ...".
_JOINED = re.compile(r"\b(?:into|onto|to|with|then|after|before|from|followed by)\s+$", re.IGNORECASE)
# "the sleeping cat", "this sketch": up to four words after "the" or "this", up to the next preposition or conjunction.
_THIS = r"this(?!\s+(?:time|is|was|way|will|would|should|can|could|has|had|looks?|seems?)\b)"  # not "this time"
_BARE = re.compile(rf"\b(?:the|{_THIS})\s+(?P<words>(?:(?!{_STOP}\b){_WORD}\s*){{1,4}})", re.IGNORECASE)


_CAMERA = set(
    "wide close closeup close-up aerial tracking establishing medium long overhead drone static panning low-angle "
    "high-angle pov dolly slow-motion slow motion handheld top-down bird's-eye birds-eye full cinematic extreme "
    "low high angle over-the-shoulder".split()
)
"""Framing words: "wide shot", "a slow motion shot" say how to film, not which clip."""


@dataclass(frozen=True)
class ContentPhrase:
    """A phrase that may point at an artifact by what it shows."""

    start: int
    end: int
    text: str
    """As written, e.g. "the kite clip"."""
    words: str
    """Its content words, e.g. "kite"."""
    kind: MediaKind | None
    strong: bool
    """It has an artifact noun ("clip", "one", "photo"): it surely points at something."""
    loose: bool = False
    """Words with no article ("glassblower then chameleon"): bound only when they fit exactly one artifact."""
    joined: bool = False
    """A bare phrase right after a joining word, in a turn that joins clips ("from the car one into the juggler"):
    it names a clip, bound when one clearly matches even with no word in common."""


_IRREGULAR_PLURALS = {
    "wolves": "wolf", "leaves": "leaf", "knives": "knife", "wives": "wife", "lives": "life", "halves": "half",
    "calves": "calf", "shelves": "shelf", "loaves": "loaf", "thieves": "thief", "scarves": "scarf", "elves": "elf",
    "hooves": "hoof", "geese": "goose", "mice": "mouse", "children": "child", "kids": "kid", "men": "man",
    "women": "woman", "people": "person", "feet": "foot", "teeth": "tooth", "oxen": "ox",
}  # fmt: skip


def stem(word: str) -> str:
    """A crude stem, enough for "sleeping"/"sleeps"/"asleep" -> "sleep", "rainy" -> "rain", "dogs" -> "dog",
    "wolves" -> "wolf", "glaze"/"glazing" -> "glaz"."""
    word = word.lower().strip("'-")
    word = word.removesuffix("'s")
    word = _IRREGULAR_PLURALS.get(word, word)
    for prefix in ("a",):
        if word.startswith(prefix) and word[1:] in ("sleep", "float", "blaze", "glow", "light"):
            word = word[1:]
    for suffix in ("ing", "ies", "ied", "ed", "es", "s", "y", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + ("y" if suffix in ("ies", "ied") else "")
            break
    else:
        if len(word) >= 4 and word[-1] == "e" and word[-2] not in "aeiou":
            word = word[:-1]  # a silent e, as "glazing" and "horses" lose it: "glaze" -> "glaz", "horse" -> "hors"
    if len(word) >= 4 and word[-1] == word[-2] and word[-1] not in "aeiousl":
        word = word[:-1]  # "running" -> "runn" -> "run"
    return word


_KINDS = {
    "dog": "puppy pup puppies doggy doggie doggo pooch hound beagle poodle corgi retriever labrador terrier bulldog "
    "dachshund collie pug spaniel dalmatian greyhound chihuahua rottweiler",
    "cat": "kitten tabby",
    "horse": "foal pony stallion mare colt",
    "bird": "parrot pigeon seagull gull owl eagle hawk sparrow robin crow duck goose swan heron flamingo pelican "
    "penguin parakeet finch dove",
    "car": "automobile convertible sedan coupe",
    "sheep": "lamb",
    "pig": "piglet",
    "duck": "duckling",
    "winter": "snow snowy snowfall snowstorm snowman blizzard frost frosty sleet icicle",
    "bike": "bicycle cyclist",
    "motorcycle": "motorbike",
    "truck": "lorry",
    "skateboard": "skateboarder skater",
    "tram": "streetcar",
    "plane": "airplane airliner",
}
"""A few everyday kinds and what is one of them ("the puppy one" is the clip of a small dog; "the dog pic" may be
the beagle or the poodle; "the winter one" may be the snowy village or the blizzard), as stems. None whose stem
is another word ("kitty" -> "kit")."""
_KIND_OF = {stem(word): stem(kind) for kind, words in _KINDS.items() for word in words.split()}
_SUBTYPES = {
    "train": "locomotive",
    "boat": "ferry ship sailboat yacht canoe kayak rowboat",
    "plane": "jet",
}
"""Kinds with their subtypes, matched one way: "the boat one" may be the ferry; "the ferry one" is not any boat."""
_SUBTYPE_OF = {stem(word): stem(kind) for kind, words in _SUBTYPES.items() for word in words.split()}
_SORTS = (
    "train tram bus boat plane helicopter car truck bike motorcycle scooter skateboard",
    "dog cat horse bird sheep pig cow goat fox wolf bear deer rabbit fish whale dolphin seal lion tiger elephant "
    "monkey turtle frog",
)
"""Kinds of one sort: a phrase that names one of them ("the train clip") does not mean an artifact that shows
another of the sort and not it (a bus), however close their embeddings are."""
_SORT_OF = {stem(kind): number for number, kinds in enumerate(_SORTS) for kind in kinds.split()}


def _kind(word: str) -> str:
    return _KIND_OF.get(word) or _SUBTYPE_OF.get(word) or word


def contradicts(wanted: set[str], have: set[str]) -> bool:
    """The phrase names a kind the description lacks, while showing another kind of the same sort ("the train
    clip" for a bus pulling into a depot)."""
    for w in wanted:
        sort = _SORT_OF.get(_kind(w))
        if sort is None or any(_same_thing(w, h) or _kind(h) == _kind(w) for h in have):
            continue
        if any(_SORT_OF.get(_kind(h)) == sort for h in have):
            return True
    return False


def _same_thing(w: str, h: str) -> bool:
    """A phrase stem ``w`` names what a description stem ``h`` shows: the same stem, a compound's head ("dog" in
    "sheepdog") or first part ("snow" in "snowstorm", both parts of four letters or more), one of the other's
    kind ("puppy" for "dog", "dog" for "beagle"; not "beagle" for "poodle"), a kind for its subtype ("boat" for
    "ferry", not the other way), a typo of it ("firworks"), or a word derived from it ("pianist", "redder")."""
    if w == h or (len(w) >= 3 and h.endswith(w)):
        return True
    if len(w) >= 4 and len(h) - len(w) >= 4 and h.startswith(w):
        return True
    if _KIND_OF.get(w) == h or _KIND_OF.get(h) == w or _SUBTYPE_OF.get(h) == w:
        return True
    return _typo_of(w, h) or _derived(w, h) or _derived(h, w)


_DERIVING = ("er", "est", "ist")


def _derived(w: str, h: str) -> bool:
    """``h`` is ``w`` with a suffix of a doer or a degree: "piano" -> "pianist", "drum" -> "drummer", "red" ->
    "redder", "bake" (stem "bak") -> "baker", "ski" -> "skier"."""
    if len(w) < 3 or len(h) <= len(w):
        return False
    if len(w) == 3:
        bases = (w + w[-1],)  # a base of three letters only doubled ("redder"): "din" (dining) is no "diner"
    else:
        bases = (w, w + w[-1], w[:-1]) if w[-1] in "aeiou" else (w, w + w[-1])  # "pian-ist" drops the "o"
    return any(h == base + suffix for base in bases for suffix in _DERIVING)


def _typo_of(w: str, h: str) -> bool:
    """One letter missed, added or two swapped, in words of six letters or more ("firwork" for "firework").
    A changed letter is no typo here: "horse" and "house" are two things."""
    if min(len(w), len(h)) < 6 or abs(len(w) - len(h)) > 1:
        return False
    if len(w) == len(h):
        diff = [i for i, (a, b) in enumerate(zip(w, h, strict=True)) if a != b]
        return len(diff) == 2 and diff[1] == diff[0] + 1 and w[diff[0]] == h[diff[1]] and w[diff[1]] == h[diff[0]]
    short, long_ = sorted((w, h), key=len)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def shared(wanted: set[str], have: set[str]) -> int:
    """How many wanted stems the description has (see :func:`_same_thing`), or has in two words ("sunrise" in
    "the sun rising", "sunset" in "the sun setting")."""
    return sum(1 for w in wanted if any(_same_thing(w, h) for h in have) or _split_in(w, have))


def _split_in(w: str, have: set[str]) -> bool:
    return any(w[:i] in have and w[i:] in have for i in range(3, len(w) - 2))


# Short forms said for words an artifact's prompt spells out.
_SHORT_FORMS = {"slow-mo": "slow motion", "slo-mo": "slow motion", "slomo": "slow motion", "slowmo": "slow motion",
                "b&w": "black and white", "timelapse": "time lapse", "time-lapse": "time lapse"}  # fmt: skip
_SHORT_FORM = re.compile(rf"(?<![\w-])(?:{'|'.join(map(re.escape, _SHORT_FORMS))})(?![\w-])")


def content_stems(text: str) -> set[str]:
    text = _SHORT_FORM.sub(lambda m: _SHORT_FORMS[m.group(0)], text.lower())
    words = re.findall(r"[a-z][a-z'-]+|\d{2,4}s\b", text)  # decades too: "1950s"
    return {stem(w) for w in words if w not in _FUNCTION and len(w) > 2}


def find_content_phrases(facts: TurnFacts, *, loose: Sequence[tuple[int, int]] | None = None) -> list[ContentPhrase]:
    """Phrases of the turn that may name an artifact by content, left to right, none overlapping. With ``loose``,
    also runs of words with no article, outside those spans (where the turn says what to do)."""
    text = facts.masked
    found: list[ContentPhrase] = []
    frames = [m.span("which") for m in _FRAME.finditer(text)]  # "the end frame" is a frame, not content

    def overlaps(start: int, end: int) -> bool:
        return any(p.start < end and start < p.end for p in found) or any(s < end and start < e for s, e in frames)

    def add(
        match: re.Match[str],
        noun: str | None,
        strong: bool,
        loose: bool = False,
        start: int | None = None,
        joined: bool = False,
    ):
        words = " ".join(w for w in match["words"].split() if w.lower() not in _FUNCTION)
        start = match.start() if start is None else start
        if not words or overlaps(start, match.end()):
            return
        if not strong and _names_media(match["words"]):
            return
        if noun and re.fullmatch(r"shots?", noun, re.IGNORECASE) and set(words.lower().split()) <= _CAMERA:
            return  # "..., wide shot": how to film the new clip, not a clip made before
        end = match.end("words") if not strong else match.end()
        end = start + len(text[start:end].rstrip())  # a run of words ends before its trailing space
        kind = _noun_kind(noun) if noun else None
        found.append(ContentPhrase(start, end, text[start:end].strip(), words, kind, strong, loose, joined))

    for match in _NOUN_OF.finditer(text):
        add(match, match["noun"], True)
    for match in _NOUN_PHRASE.finditer(text):
        noun = re.search(rf"{_NOUNS}$", match.group(0), re.IGNORECASE)
        add(match, noun.group(0) if noun else None, True)
    for match in _UNARTICLED.finditer(text):
        noun = re.search(rf"{_NOUNS}$", match.group(0), re.IGNORECASE)
        add(match, noun.group(0) if noun else None, True, start=match.start("words"))  # "lanterns clip is too short"
    for match in _BARE.finditer(text):
        joined = loose is not None and _JOINED.search(text, 0, match.start()) is not None
        add(match, None, False, joined=joined)
    if loose is not None:
        blanked = text
        for start, end in loose:
            blanked = blanked[:start] + "," * (end - start) + blanked[end:]  # a run of words stops there
        for match in _LOOSE.finditer(blanked):
            add(match, None, False, loose=True)
    return sorted(found, key=lambda p: p.start)


def _names_media(words: str) -> bool:
    return re.search(rf"\b{_NOUNS}\b", words, re.IGNORECASE) is not None


MADE_BY_WORDS = {
    "edit_video": "edited changed version",
    "extend_video": "longer extended continued version",
    "connect_videos": "combined joined connected stitched transition",
    "image_to_video": "animated photo",
    "digital_world": "game world",
    "input": "uploaded",
}
"""Words for how an artifact was made, so "the edited one", "the longer clip", "the combined clip" match."""


def describe(artifact: SessionArtifact, artifacts: Sequence[SessionArtifact], depth: int = 2) -> str:
    """What an artifact shows, in words: its prompt, and what the artifacts it was made from show."""
    return content(artifact, artifacts, depth, instructions=True)


@dataclass(frozen=True)
class ContentMatch:
    """How a phrase scored against each artifact of the kinds it may mean, best first."""

    phrase: ContentPhrase
    scores: tuple[tuple[SessionArtifact, float, float], ...]
    """``(artifact, score, share of the phrase's words in its description)``."""

    @property
    def word_ties(self) -> tuple[int, ...]:
        """Artifacts whose descriptions hold every content word of the phrase, when more than one does: the
        words fit each of them, so no score may choose ("the beach one" with two beach clips)."""
        full = tuple(sorted(a.index for a, _, words in self.scores if words >= 1.0))
        return full if len(full) > 1 else ()

    @property
    def winner(self) -> SessionArtifact | None:
        """The artifact bound, if one clearly leads (see the module docstring)."""
        if not self.scores or self.word_ties:
            return None
        best, score, words = self.scores[0]
        if self.phrase.strong and self.unmatched:
            return None
        if not self.phrase.strong and words == 0 and not (self.phrase.joined and score >= MIN_SCORE):
            return None
        if len(self.scores) > 1 and score - self.scores[1][1] < CONTENT_MARGIN:
            return None
        return best

    @property
    def candidates(self) -> tuple[int, ...]:
        """For a near-tie: the artifacts within the margin of the best; for no match: every one scored."""
        if not self.scores:
            return ()
        if self.word_ties:
            return self.word_ties
        best = self.scores[0][1]
        if self.phrase.strong and self.unmatched:
            return tuple(sorted(a.index for a, _, _ in self.scores))
        return tuple(sorted(a.index for a, score, _ in self.scores if best - score < CONTENT_MARGIN))

    @property
    def unmatched(self) -> bool:
        """No artifact matches the phrase at all: the best score is below :data:`MIN_SCORE`."""
        return not self.scores or self.scores[0][1] < MIN_SCORE

    @property
    def sole(self) -> SessionArtifact | None:
        """The one artifact whose description holds every content word, if exactly one does."""
        full = [a for a, _, words in self.scores if words >= 1.0]
        return full[0] if len(full) == 1 else None

    @property
    def relevant(self) -> bool:
        """Worth acting on: a strong or joined phrase always; another bare one only when it shares a word with an
        artifact."""
        return self.phrase.strong or self.phrase.joined or any(words > 0 for _, _, words in self.scores)


def match_phrase(phrase: ContentPhrase, artifacts: Sequence[SessionArtifact], encode: Encode) -> ContentMatch:
    """Score ``phrase`` against every artifact of its kind (every artifact, when it names no kind)."""
    pool = [a for a in artifacts if phrase.kind in (None, a.kind)]
    if not pool:
        return ContentMatch(phrase, ())
    texts = [describe(a, artifacts) or a.task.replace("_", " ") for a in pool]
    made = [_made_words(a, artifacts) for a in pool]
    vectors = encode([phrase.words, *texts])
    wanted = content_stems(phrase.words)
    scored = []
    for artifact, text, extra, vector in zip(pool, texts, made, vectors[1:], strict=True):
        # Loose words match what a clip shows, not how it was made ("stitch em" is no reference to a join).
        have = content_stems(text if phrase.loose else f"{text} {extra}")
        words = shared(wanted, have) / len(wanted) if wanted else 0.0
        score = float(vector @ vectors[0]) + WORD_WEIGHT * words
        if contradicts(wanted, have):
            score, words = min(score, MIN_SCORE - 0.01), 0.0  # it shows another thing of the sort
        scored.append((artifact, round(score, 4), words))
    scored.sort(key=lambda item: (-item[1], -item[0].index))
    return ContentMatch(phrase, tuple(scored))


def _made_words(artifact: SessionArtifact, artifacts: Sequence[SessionArtifact]) -> str:
    words = [artifact.task.replace("_", " "), MADE_BY_WORDS.get(artifact.task, "")]
    if any(artifact.index in other.sources for other in artifacts):
        words.append("original first version source")  # not "unedited": it would hold "edit"
    return " ".join(words)


def bind_content(
    facts: TurnFacts,
    artifacts: Sequence[SessionArtifact],
    encode: Encode,
    *,
    loose: Sequence[tuple[int, int]] | None = None,
) -> TurnFacts:
    """``facts`` with each content phrase turned into a reference: ``artifact:N`` when one artifact clearly
    matches, ``unclear`` (with its candidates) when a strong phrase fits several or none.

    A phrase that covers a vague definite reference ("the kite clip" read as "the clip": the latest) replaces
    it; phrases inside a positional reference ("the first clip") are not content. Two clips named by content
    make "them" / "both" redundant. With ``loose`` (the turn acts on clips: "glassblower then chameleon,
    stitch em together"; the spans of its action words), bare words with no article elsewhere count too, if
    their words fit exactly one artifact.
    """
    if not artifacts:
        return facts
    refs = list(facts.references)
    # "start from the first frame of clip 2 and have the dog jump into the lake": beside a reference by
    # position, bare noun phrases describe the new video rather than point.
    # (A turn that joins clips names each one, so there a bare phrase still points: "join the lighthouse and #3".)
    positional = any(r.explicit and r.how in ("position", "listed", "turn") and r.selector != "pair" for r in refs)
    positional = positional and loose is None
    positional = positional or _FRAME.search(facts.masked) is not None  # "the last frame of ..." is an image
    frame_ends = [m.end() for m in _FRAME.finditer(facts.masked) if m["of"]]
    quiet = None if loose is None or positional else list(loose)
    phrases = find_content_phrases(facts, loose=quiet)
    # A vague "the horse clip" is about to be read by content: it is no pointer at the latest.
    strong = [(p.start, p.end) for p in phrases if p.strong]
    vague = [r for r in refs if not any(s < r.end and r.start < e for s, e in strong)]
    for phrase in phrases:
        of_frame = any(not facts.masked[end : phrase.start].strip() for end in frame_ends if end <= phrase.start)
        if positional and not phrase.strong and not of_frame:
            continue
        if any(r.explicit and r.start < phrase.end and phrase.start < r.end for r in refs):
            continue
        match = match_phrase(phrase, artifacts, encode)
        if not match.scores or not match.relevant:
            continue  # nothing of its kind here ("the photo" in a session of clips): the inputs say so
        covered = [r for r in refs if not r.explicit and r.start < phrase.end and phrase.start < r.end]
        winner = match.winner
        if phrase.loose and (winner is None or winner is not match.sole):
            continue
        if not phrase.strong and not covered and _has_vague_pointer(vague, phrase):
            # "make the sky in it red": "it" points, "the sky" is part of the instruction; "join it with the
            # lighthouse" names a second clip outright.
            if winner is None or match.scores[0][1] < BARE_BESIDE_PRONOUN:
                continue
        if winner is None and not phrase.strong and not (match.word_ties and not _has_vague_pointer(vague, phrase)):
            continue  # a bare phrase asks only when its words fit several artifacts outright
        for ref in covered:
            refs.remove(ref)
        common = dict(start=phrase.start, end=phrase.end, phrase=phrase.text, how="content")
        if winner is not None:
            refs.append(Reference(kind=winner.kind, selector=f"artifact:{winner.index}", **common))
        else:
            unmatched = phrase.strong and match.unmatched
            refs.append(
                Reference(
                    kind=phrase.kind, selector="unclear", candidates=match.candidates, unmatched=unmatched, **common
                )
            )
    named = [r for r in refs if r.how == "content" and r.selector.startswith("artifact:")]
    if len(named) >= 2:
        refs = [r for r in refs if r.selector != "pair"]  # "put the moose before the lumberjack and blend them"
    return replace(facts, references=_frames_of_content(sorted(refs, key=lambda r: r.start), facts.masked))


def _has_vague_pointer(refs: list[Reference], phrase: ContentPhrase) -> bool:
    """Another word of the turn already points at the latest ("it", "that", "the clip")."""
    return any(not r.explicit and (r.start < phrase.start or r.start >= phrase.end) for r in refs)


def _frames_of_content(refs: list[Reference], text: str) -> list[Reference]:
    """A frame mention whose "of" is followed by a content phrase ("the last frame of the cat clip")."""
    for match in _FRAME.finditer(text):
        if not match["of"] or any(r.source is not None and r.start == match.start() for r in refs):
            continue
        after = [r for r in refs if r.start >= match.end() - 1 and r.kind in ("video", None)]
        if not after or not re.fullmatch(r"[\s,]*(?:the\s+)?", text[match.end() : after[0].start]):
            continue
        source = after[0]
        refs.remove(source)
        which = "first" if match["which"].lower() in _FIRST_FRAME else "last"
        frame = Reference(match.start(), "image", f"frame:{which}", end=source.end, how="content",
                          phrase=text[match.start() : source.end].strip(), source=source)  # fmt: skip
        refs.append(frame)
    return sorted(refs, key=lambda r: r.start)
