"""Generated training sessions for the director's model: many more ways of pointing than the corpus holds.

The sessions reuse what the training corpus shows (its artifacts' words); the turns are drawn from phrase banks
of how people point (places, content words, derivations, orders) and what they ask (edit, extend, join, animate,
a new video). These banks are training data, read only by :mod:`.training`: the director itself holds no phrase.
Seeded: the same corpus and seed give the same cases.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from mora_agents.director._describe import content
from mora_agents.director.corpus import Case
from mora_agents.messages import SessionArtifact

ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth"]
SHORT_ORDINALS = ["1st", "2nd", "3rd", "4th", "5th", "6th"]
VIDEO_NOUNS = ["clip", "video", "one", "vid", "shot"]
IMAGE_NOUNS = ["photo", "picture", "image", "pic"]
STYLES = [
    "black and white",
    "look like a watercolour painting",
    "snowy",
    "at night",
    "in anime style",
    "sepia",
    "look like an old film",
    "rainy",
    "golden hour",
    "neon cyberpunk",
    "look like claymation",
    "pastel colours",
    "foggy",
    "like a pencil sketch",
    "look like it's underwater",
    "warmer",
    "autumn colours",
    "like a comic book",
]
MOTIONS = ["slow zoom in", "the wind blowing", "gentle camera pan", "waves moving", "people walking", "leaves falling"]
NEW_OPENERS = ["", "", "make a video of ", "now ", "new one: ", "a clip of ", "generate ", "next, "]
POLITE = ["", "", "", "please ", "can you ", "could you ", "ok now ", "hey, "]


def _word_pool(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z]+", text.lower()) if len(w) >= 4]


def _seconds(rng: random.Random) -> tuple[str, int]:
    n = rng.choice([1, 2, 3, 4, 5, 6, 8, 10])
    return rng.choice([f"{n} seconds", f"{n}s", f"{n} sec", f"{n} more seconds"]), n


class SessionGenerator:
    """Draws sessions and turns; see the module docstring."""

    def __init__(self, videos: Sequence[str], images: Sequence[str], seed: int = 0) -> None:
        self.rng = random.Random(seed)
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
        if how == "extend" and videos:
            source = rng.choice(videos)
            words, _ = _seconds(rng)
            prompt = rng.choice([f"make it {words} longer", "keep it going", f"extend it by {words}"])
            artifacts.append(self._artifact(artifacts, "video", "extend_video", prompt, [source.index]))
        elif how == "edit" and videos:
            source = rng.choice(videos)
            artifacts.append(
                self._artifact(artifacts, "video", "edit_video", f"make it {rng.choice(STYLES)}", [source.index])
            )
        elif how == "join":
            a, b = rng.sample(videos, 2)
            artifacts.append(self._artifact(artifacts, "video", "connect_videos", "join those two", [a.index, b.index]))
        elif images:
            source = rng.choice(images)
            prompt = f"animate it, {rng.choice(MOTIONS)}"
            artifacts.append(self._artifact(artifacts, "video", "image_to_video", prompt, [source.index]))

    # -- references -----------------------------------------------------------------------------------------
    def by_place(self, artifacts: list[SessionArtifact], target: SessionArtifact) -> str:
        """A phrase naming ``target`` by its place."""
        rng = self.rng
        same = [a for a in artifacts if a.kind == target.kind]
        place, from_end = same.index(target), len(same) - 1 - same.index(target)
        noun = rng.choice(VIDEO_NOUNS if target.kind == "video" else IMAGE_NOUNS)
        numbered = rng.choice(["clip", "video"] if target.kind == "video" else IMAGE_NOUNS)
        options = [f"the {ORDINALS[place]} {noun}", f"the {SHORT_ORDINALS[place]} {noun}", f"{numbered} {place + 1}"]
        options.append(f"#{target.index}")
        if from_end == 0:
            options += [
                f"the last {noun}",
                f"the latest {noun}",
                f"the newest {noun}",
                f"the most recent {noun}",
                "the one you just made",
                "what you just did",
                f"the {noun} from just now",
            ]
        if from_end == 1:
            options += [f"the second to last {noun}", "the one before last", f"the penultimate {noun}"]
        if len(same) % 2 == 1 and place == len(same) // 2 and len(same) >= 3:
            options.append(f"the middle {noun}")
        return rng.choice(options)

    def by_content(self, artifacts: list[SessionArtifact], target: SessionArtifact) -> str | None:
        """A phrase naming ``target`` by a word only its words hold, or ``None``."""
        others = {w for a in artifacts if a is not target for w in _word_pool(content(a, artifacts))}
        own = [w for w in _word_pool(target.prompt or "") if w not in others]
        if not own:
            return None
        word = self.rng.choice(own)
        noun = self.rng.choice(VIDEO_NOUNS if target.kind == "video" else IMAGE_NOUNS)
        return self.rng.choice([f"the {word} {noun}", f"the {word} one", f"the {noun} with the {word}", f"the {word}"])

    def by_derivation(self, artifacts: list[SessionArtifact], target: SessionArtifact) -> str | None:
        """A phrase naming ``target`` by how it was made, or by being what something was made from."""
        rng = self.rng
        made = {
            "extend_video": ["the extended one", "the longer version", "the extended clip", "the continued one"],
            "edit_video": ["the edited one", "the edited version", "the restyled clip", "the changed version"],
            "connect_videos": ["the joined clip", "the combined one", "the merged video", "the stitched one"],
            "image_to_video": ["the animated photo", "the video from my photo", "the clip you made from the picture"],
        }
        if target.task in made and sum(a.task == target.task for a in artifacts) == 1:
            return rng.choice(made[target.task])
        children = [a for a in artifacts if target.index in a.sources]
        if target.kind == "video" and len(children) == 1 and children[0].task in ("extend_video", "edit_video"):
            options = ["the original", "the original clip", "the first version"]
            if children[0].task == "extend_video":
                options += ["the shorter version", "the one before I extended it"]
            else:
                options += ["the unedited one", "the one before the edit"]
            return rng.choice(options)
        return None

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
        say = rng.choice(POLITE) + say
        return Case(f"gen-{category}-{self.count}", category, artifacts, say, expect)

    def _single(self, ref: str, target: SessionArtifact) -> tuple[str, dict]:
        rng = self.rng
        if rng.random() < 0.5:
            style = rng.choice(STYLES)
            say = rng.choice(
                [
                    f"make {ref} {style}",
                    f"{ref}, {style}",
                    f"change {ref} so it looks {style}",
                    f"give {ref} a {style} look",
                    f"turn {ref} {style}",
                ]
            )
            return say, {"task": "edit_video", "inputs": {"video": target.index}}
        words, n = _seconds(rng)
        say = rng.choice(
            [
                f"extend {ref} by {words}",
                f"make {ref} {words} longer",
                f"add {words} to {ref}",
                f"keep {ref} going",
                f"continue {ref}",
                f"{ref} needs to be longer",
            ]
        )
        inputs = {"video": target.index}
        return say, {"task": "extend_video", "inputs": inputs}

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
        say = rng.choice(
            [
                f"join {ra} and {rb}",
                f"connect {ra} to {rb}",
                f"{ra} then {rb}",
                f"put {rb} after {ra}",
                f"start with {ra}, then {rb}",
                f"{rb} should come after {ra}",
                f"stick {rb} on the end of {ra}",
                f"transition from {ra} into {rb}",
                f"put {ra} before {rb}",
                f"play {rb} after {ra}",
                f"join {rb} and {ra}, {ra} first",
                f"merge {rb} with {ra} but {ra} goes first",
                f"{ra} first, {rb} second",
                f"blend {ra} into {rb}",
                f"stitch {rb} and {ra} together, {rb} last",
                f"join {rb} and {ra}, but {rb} should come after",
                f"combine {rb} and {ra} with {ra} going first",
                f"connect {rb} and {ra}, {ra} before {rb}",
                f"{rb} and {ra}, backwards: {ra} goes before {rb}",
                f"join {ra} with {rb}, {ra} must be first",
                f"{ra} and then {rb}",
            ]
        )
        return say, {"task": "connect_videos", "inputs": {"video": a.index, "video2": b.index}}

    def _intent(self, artifacts):
        rng = self.rng
        if rng.random() < 0.5:
            shown = {a.prompt for a in artifacts}
            prompt = rng.choice([p for p in self.videos if p not in shown])
            words, n = _seconds(rng)
            say = rng.choice(NEW_OPENERS) + prompt + (f", {words.replace(' more', '')}" if rng.random() < 0.3 else "")
            return say, {"task": "text_to_video"}
        latest = artifacts[-1]
        if latest.kind == "image":
            return rng.choice(["animate it", "bring it to life", "make it move"]), {
                "task": "image_to_video",
                "inputs": {"image": latest.index},
            }
        return self._single(rng.choice(["it", "this", "that one", "the clip"]), latest)

    def _image(self, artifacts):
        rng = self.rng
        images = [a for a in artifacts if a.kind == "image"]
        videos = [a for a in artifacts if a.kind == "video"]
        if videos and rng.random() < 0.3:
            clip = rng.choice(videos)
            frame = rng.choice(["first", "last"])
            ref = self.by_place(artifacts, clip)
            say = rng.choice([f"animate the {frame} frame of {ref}", f"take the {frame} frame of {ref} and animate it"])
            return say, {"task": "image_to_video", "inputs": {"image": {f"{frame}_frame_of": clip.index}}}
        if not images:
            return None
        target = rng.choice(images)
        ref = self.by_content(artifacts, target) if rng.random() < 0.5 else self.by_place(artifacts, target)
        if ref is None:
            return None
        say = rng.choice(
            [
                f"animate {ref}",
                f"bring {ref} to life",
                f"make {ref} move, {rng.choice(MOTIONS)}",
                f"turn {ref} into a video",
            ]
        )
        return say, {"task": "image_to_video", "inputs": {"image": target.index}}

    def _ambiguity(self, artifacts):
        rng = self.rng
        by_word: dict[str, list[str]] = {}
        for prompt in self.videos:
            for word in set(_word_pool(prompt)):
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
        noun = rng.choice(VIDEO_NOUNS)
        say, _ = self._single(rng.choice([f"the {word} {noun}", f"the {word} one"]), a)
        return say, {"ask": sorted([a.index, b.index])}


def generate(videos: Sequence[str], images: Sequence[str], count: int, seed: int = 0) -> list[Case]:
    """``count`` generated cases from the corpus' words."""
    generator = SessionGenerator(videos, images, seed)
    cases: list[Case] = []
    while len(cases) < count:
        case = generator.case()
        if case is not None:
            cases.append(case)
    return cases
