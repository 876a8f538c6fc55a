"""Generated training sessions for the director's model: many more ways of pointing than the corpus holds.

The sessions reuse what the training corpus shows (its artifacts' words); the turns are drawn from phrase banks
of how people point (places, content words, derivations, orders) and what they ask (edit, extend, join, animate,
a new video). These banks are training data, read only by :mod:`.training`: the director itself holds no phrase.
Seeded: the same corpus and seed give the same cases.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from mora_agents.director._describe import content
from mora_agents.director.corpus import Case
from mora_agents.messages import SessionArtifact

PHRASES = Path("generator") / "phrases.yaml"
"""The phrase banks, relative to the corpus folder (``tests/director_corpus/generator/phrases.yaml``)."""

Phrases = Mapping[str, Any]


def load_phrases(corpus: Path) -> Phrases:
    """The phrase banks of the corpus folder ``corpus``."""
    return yaml.safe_load((corpus / PHRASES).read_text(encoding="utf-8"))


def _word_pool(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z]+", text.lower()) if len(w) >= 4]


def _seconds(rng: random.Random, phrases: Phrases) -> tuple[str, int]:
    n = rng.choice([1, 2, 3, 4, 5, 6, 8, 10])
    return rng.choice(phrases["seconds"]).format(n=n), n


class SessionGenerator:
    """Draws sessions and turns; see the module docstring."""

    def __init__(self, videos: Sequence[str], images: Sequence[str], phrases: Phrases, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.phrases = phrases
        self.videos = sorted(set(videos))
        self.images = sorted(set(images))
        self.count = 0

    # -- sessions -------------------------------------------------------------------------------------------
    def session(self, size: int, images: int = 0, derived: bool = False) -> list[SessionArtifact]:
        rng = self.rng
        kinds = ["video"] * (size - images) + ["image"] * images
        rng.shuffle(kinds)
        artifacts: list[SessionArtifact] = []
        for kind in kinds:
            prompt = rng.choice(self.images if kind == "image" else self.videos)
            task = "input" if kind == "image" else "text_to_video"
            artifacts.append(self._artifact(artifacts, kind, task, prompt, []))
        if derived:
            self._derive(artifacts)
            # Not always the newest: more may have been made after it.
            for _ in range(rng.choice([0, 0, 1, 2]) if len(artifacts) < 6 else 0):
                prompt = rng.choice(self.videos)
                artifacts.append(self._artifact(artifacts, "video", "text_to_video", prompt, []))
        return artifacts

    def _artifact(self, artifacts, kind, task, prompt, sources) -> SessionArtifact:
        number = len(artifacts) + 1
        return SessionArtifact(
            index=number,
            kind=kind,
            path=f"/session/{kind}-{number}",
            turn=number,
            task=task,
            prompt=prompt,
            sources=sources,
        )

    def _derive(self, artifacts: list[SessionArtifact]) -> None:
        rng = self.rng
        videos = [a for a in artifacts if a.kind == "video"]
        images = [a for a in artifacts if a.kind == "image"]
        choices = ["extend", "edit"] + (["join"] if len(videos) >= 2 else []) + (["animate"] if images else [])
        how = rng.choice(choices)
        said = self.phrases
        if how == "extend" and videos:
            source = rng.choice(videos)
            words, _ = _seconds(rng, said)
            prompt = rng.choice(said["made_extended"]).format(words=words)
            artifacts.append(self._artifact(artifacts, "video", "extend_video", prompt, [source.index]))
        elif how == "edit" and videos:
            source = rng.choice(videos)
            artifacts.append(
                self._artifact(
                    artifacts,
                    "video",
                    "edit_video",
                    said["made_edited"].format(style=rng.choice(said["styles"])),
                    [source.index],
                )
            )
        elif how == "join":
            a, b = rng.sample(videos, 2)
            prompt = said["made_joined"]
            artifacts.append(self._artifact(artifacts, "video", "connect_videos", prompt, [a.index, b.index]))
        elif images:
            source = rng.choice(images)
            prompt = said["made_animated"].format(motion=rng.choice(said["motions"]))
            artifacts.append(self._artifact(artifacts, "video", "image_to_video", prompt, [source.index]))

    # -- references -----------------------------------------------------------------------------------------
    def by_place(self, artifacts: list[SessionArtifact], target: SessionArtifact) -> str:
        """A phrase naming ``target`` by its place."""
        rng = self.rng
        same = [a for a in artifacts if a.kind == target.kind]
        place, from_end = same.index(target), len(same) - 1 - same.index(target)
        said = self.phrases
        noun = rng.choice(said["video_nouns"] if target.kind == "video" else said["image_nouns"])
        numbered = rng.choice(said["numbered_video_nouns"] if target.kind == "video" else said["image_nouns"])
        fields = {
            "noun": noun,
            "numbered": numbered,
            "ordinal": said["ordinals"][place],
            "short_ordinal": said["short_ordinals"][place],
            "place": place + 1,
            "index": target.index,
        }
        fields["end_ordinal"] = said["ordinals"][min(from_end, len(said["ordinals"]) - 1)]
        options = list(said["by_place"])
        if from_end == 0:
            options += said["by_place_latest"]
        if from_end == 1:
            options += said["by_place_before_latest"]
        if 1 <= from_end < len(said["ordinals"]) and len(same) >= 3:
            options += said["by_place_from_end"]
        if place == 0:
            options += said["by_place_first"]
        if len(same) == 2:
            options += said["by_place_of_two"]["first" if place == 0 else "last"]
        if len(same) % 2 == 1 and place == len(same) // 2 and len(same) >= 3:
            options += said["by_place_middle"]
        return rng.choice(options).format(**fields)

    def by_content(self, artifacts: list[SessionArtifact], target: SessionArtifact) -> str | None:
        """A phrase naming ``target`` by a word only its words hold, or ``None``."""
        others = {w for a in artifacts if a is not target for w in _word_pool(content(a, artifacts))}
        own = [w for w in _word_pool(target.prompt or "") if w not in others]
        if not own:
            return None
        word = self.rng.choice(own)
        said = self.phrases
        noun = self.rng.choice(said["video_nouns"] if target.kind == "video" else said["image_nouns"])
        return self.rng.choice(said["by_content"]).format(word=word, noun=noun)

    def by_derivation(self, artifacts: list[SessionArtifact], target: SessionArtifact) -> str | None:
        """A phrase naming ``target`` by how it was made, or by being what something was made from."""
        rng, said = self.rng, self.phrases
        made = said["made_by"]
        named = self._by_family_word(artifacts, target)
        if named is not None and rng.random() < 0.5:
            return named
        if target.task in made and sum(a.task == target.task for a in artifacts) == 1:
            return rng.choice(made[target.task])
        children = [a for a in artifacts if target.index in a.sources]
        if target.kind == "video" and len(children) == 1 and children[0].task in ("extend_video", "edit_video"):
            kept = "original_of_extended" if children[0].task == "extend_video" else "original_of_edited"
            return rng.choice([*said["original"], *said[kept]])
        return None

    def _by_family_word(self, artifacts: list[SessionArtifact], target: SessionArtifact) -> str | None:
        """A derivation named with what the clip shows ("the longer kite clip"), where a word of it is shared
        only by the clips made from one another (the original and its extension, or its edit)."""
        said = self.phrases
        children = [a for a in artifacts if target.index in a.sources and a.task in ("extend_video", "edit_video")]
        if target.task in ("extend_video", "edit_video") and target.sources:
            family = {target.index, *target.sources}
            bank = "extended_with_word" if target.task == "extend_video" else "edited_with_word"
        elif target.kind == "video" and len(children) == 1:
            family, bank = {target.index, children[0].index}, "original_with_word"
        else:
            return None
        by_index = {a.index: a for a in artifacts}
        root = by_index[min(family)]
        others = {w for a in artifacts if a.index not in family for w in _word_pool(content(a, artifacts))}
        own = [w for w in _word_pool(root.prompt or "") if w not in others]
        if not own:
            return None
        noun = self.rng.choice(said["video_nouns"])
        return self.rng.choice(said[bank]).format(word=self.rng.choice(own), noun=noun)

    # -- turns ----------------------------------------------------------------------------------------------
    def case(self) -> Case | None:
        rng = self.rng
        category = rng.choice(["position", "content", "order", "intent", "ambiguity", "image", "derivation"])
        size = rng.randint(2, 5)
        images = rng.choice([0, 0, 0, 1, 1, 2]) if category != "image" else rng.choice([1, 1, 2])
        images = min(images, size - 1)
        artifacts = self.session(size, images, derived=category == "derivation" or rng.random() < 0.3)
        made = getattr(self, f"_{category}")(artifacts)
        if made is None:
            return None
        say, expect = made
        self.count += 1
        say = rng.choice(self.phrases["polite"]) + say
        return Case(f"gen-{category}-{self.count}", category, artifacts, say, expect)

    def _single(self, ref: str, target: SessionArtifact) -> tuple[str, dict]:
        rng, said = self.rng, self.phrases
        if rng.random() < 0.5:
            style = rng.choice(said["styles"])
            say = rng.choice(said["edit"]).format(ref=ref, style=style)
            return say, {"task": "edit_video", "inputs": {"video": target.index}}
        words, _ = _seconds(rng, said)
        say = rng.choice(said["extend"]).format(ref=ref, words=words)
        return say, {"task": "extend_video", "inputs": {"video": target.index}}

    def _position(self, artifacts):
        videos = [a for a in artifacts if a.kind == "video"]
        if not videos:
            return None
        target = self.rng.choice(videos)
        return self._single(self.by_place(artifacts, target), target)

    def _content(self, artifacts):
        videos = [a for a in artifacts if a.kind == "video" and a.task == "text_to_video"]
        videos = [a for a in videos if not any(a.index in b.sources for b in artifacts)]
        if not videos:
            return None
        target = self.rng.choice(videos)
        ref = self.by_content(artifacts, target)
        return None if ref is None else self._single(ref, target)

    def _derivation(self, artifacts):
        videos = [a for a in artifacts if a.kind == "video"]
        for target in self.rng.sample(videos, len(videos)):
            ref = self.by_derivation(artifacts, target)
            if ref is not None:
                return self._single(ref, target)
        return None

    def _order(self, artifacts):
        rng = self.rng
        videos = [a for a in artifacts if a.kind == "video"]
        if len(videos) < 2:
            return None
        a, b = rng.sample(videos, 2)
        name = self.by_content if rng.random() < 0.5 else self.by_place
        ra, rb = name(artifacts, a), name(artifacts, b)
        if ra is None or rb is None or ra == rb:
            return None
        say = rng.choice(self.phrases["connect"]).format(ra=ra, rb=rb)
        return say, {"task": "connect_videos", "inputs": {"video": a.index, "video2": b.index}}

    def _intent(self, artifacts):
        rng = self.rng
        if rng.random() < 0.5:
            shown = {a.prompt for a in artifacts}
            prompt = rng.choice([p for p in self.videos if p not in shown])
            words, _ = _seconds(rng, self.phrases)
            opener = rng.choice(self.phrases["new_openers"])
            say = opener + prompt + (f", {words.replace(' more', '')}" if rng.random() < 0.3 else "")
            return say, {"task": "text_to_video"}
        latest = artifacts[-1]
        if latest.kind == "image":
            return rng.choice(self.phrases["animate_latest"]), {
                "task": "image_to_video",
                "inputs": {"image": latest.index},
            }
        return self._single(rng.choice(self.phrases["pronouns"]), latest)

    def _image(self, artifacts):
        rng = self.rng
        images = [a for a in artifacts if a.kind == "image"]
        videos = [a for a in artifacts if a.kind == "video"]
        if videos and rng.random() < 0.3:
            clip = rng.choice(videos)
            frame = rng.choice(["first", "last"])
            ref = self.by_place(artifacts, clip)
            say = rng.choice(self.phrases["animate_frame"]).format(frame=frame, ref=ref)
            return say, {"task": "image_to_video", "inputs": {"image": {f"{frame}_frame_of": clip.index}}}
        if not images:
            return None
        target = rng.choice(images)
        ref = self.by_content(artifacts, target) if rng.random() < 0.5 else self.by_place(artifacts, target)
        if ref is None:
            return None
        motion = rng.choice(self.phrases["motions"])  # drawn whichever request is chosen
        say = rng.choice(self.phrases["animate"]).format(ref=ref, motion=motion)
        return say, {"task": "image_to_video", "inputs": {"image": target.index}}

    def _ambiguity(self, artifacts):
        rng = self.rng
        by_word: dict[str, list[str]] = {}
        for prompt in self.videos:
            for word in dict.fromkeys(_word_pool(prompt)):  # in order: a set's would follow the hash seed
                by_word.setdefault(word, []).append(prompt)
        shared = [w for w, prompts in by_word.items() if 2 <= len(prompts) <= 6]
        word = rng.choice(shared)
        first, second = rng.sample(by_word[word], 2)
        videos = [a for a in artifacts if a.kind == "video" and a.task == "text_to_video"]
        if len(videos) < 2:
            return None
        a, b = rng.sample(videos, 2)
        for artifact, prompt in ((a, first), (b, second)):
            artifacts[artifacts.index(artifact)] = artifact.model_copy(update={"prompt": prompt})
        if any(word in _word_pool(x.prompt or "") for x in artifacts if x.index not in (a.index, b.index)):
            return None
        noun = rng.choice(self.phrases["video_nouns"])
        say, _ = self._single(rng.choice(self.phrases["ambiguous"]).format(word=word, noun=noun), a)
        return say, {"ask": sorted([a.index, b.index])}


def generate(videos: Sequence[str], images: Sequence[str], phrases: Phrases, count: int, seed: int = 0) -> list[Case]:
    """``count`` generated cases from the corpus' words and the phrase banks."""
    generator = SessionGenerator(videos, images, phrases, seed)
    cases: list[Case] = []
    while len(cases) < count:
        case = generator.case()
        if case is not None:
            cases.append(case)
    return cases
