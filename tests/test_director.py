"""The director for real, as a user meets it: the trained model reads a table of requests (plain routing, files,
durations, pointing by content, position, derivation and order); it asks rather than guesses; user SOPs route with
no code change; `mora route` prints JSON."""

import asyncio
import json
import statistics
import time
from pathlib import Path

import pytest
from autogen_agentchat.messages import StructuredMessage
from autogen_core import CancellationToken

from mora_agents.director import DirectorAgent, find_paths, parse_duration, read_session_artifacts
from mora_agents.errors import MoraError
from mora_agents.messages import ClarifyingQuestion, DirectorTurn, InputBinding, SessionArtifact, VideoRequest
from mora_agents.sop import SopSpec, list_sops
from tests.cli_in_process import mora_here


def video(index: int, name: str) -> SessionArtifact:
    return SessionArtifact(index=index, kind="video", path=f"/s/{name}", turn=index, task="text_to_video")


def image(index: int, name: str) -> SessionArtifact:
    return SessionArtifact(index=index, kind="image", path=f"/s/{name}", turn=index, task="input")


def shown(index: int, kind: str, prompt: str, task: str = "", sources=()) -> SessionArtifact:
    task = task or ("text_to_video" if kind == "video" else "input")
    suffix = "mp4" if kind == "video" else "png"
    return SessionArtifact(index=index, kind=kind, path=f"/s/{index}.{suffix}", turn=index, task=task, prompt=prompt,
                           sources=list(sources))  # fmt: skip


NONE: list[SessionArtifact] = []
ONE = [video(1, "dog.mp4")]
TWO = [video(1, "clip1.mp4"), video(2, "clip2.mp4")]
MIXED = [video(1, "clip1.mp4"), image(2, "frame.png"), video(3, "clip2.mp4"), video(4, "clip3.mp4")]
PHOTO = [image(1, "frame.png")]
KITE_LIGHTHOUSE_CAT = [
    shown(1, "video", "a red kite dancing over a windy hill"),
    shown(2, "video", "a lighthouse at night, its beam sweeping the fog"),
    shown(3, "video", "a cat sleeping on a sunny windowsill"),
]
KITE_BICYCLE_LIGHTHOUSE_CAT = [
    shown(1, "video", "a red kite dancing over a windy hill"),
    shown(2, "image", "a photo of a red bicycle"),
    shown(3, "video", "a lighthouse at night, its beam sweeping the fog"),
    shown(4, "video", "a cat sleeping on a sunny windowsill"),
]

T2V, I2V, EXT, EDIT, CONN, DW = (
    "text_to_video image_to_video extend_video edit_video connect_videos digital_world".split()
)

# (request, session artifacts, expected task, expected inputs: a subset of the request's inputs)
ROUTING_TABLE = [
    # text_to_video: plain, durations in many forms, typos, odd word order, with a session that is not referred to
    ("a corgi running along a beach at sunset", NONE, T2V, {}),
    ("make a 10 second video of a cat playing piano", NONE, T2V, {"duration": 10}),
    ("a video of a cat make", NONE, T2V, {}),
    ("Generate a clip showing fireworks over Paris, 8s", NONE, T2V, {"duration": 8}),
    ("I want a short film of waves crashing at dawn, about ten seconds", NONE, T2V, {"duration": 10}),
    ("show me a hot air balloon floating over mountains for half a minute", NONE, T2V, {"duration": 30}),
    ("a timelapse of clouds moving over a city skyline", NONE, T2V, {}),
    ("vidoe of a horse galoping thru the snow", NONE, T2V, {}),
    ("of a robot walking a video create, 6 seconds", NONE, T2V, {"duration": 6}),
    ("rain on a neon street at night, 2.5 sec", NONE, T2V, {"duration": 2.5}),
    ("make a 1 minute clip of a river flowing through a forest", NONE, T2V, {"duration": 60}),
    ("a paper boat drifting on a pond at dawn, 2 seconds", NONE, T2V, {"duration": 2}),
    ("now make a new video of a rocket launching", ONE, T2V, {}),
    ("a panda eating bamboo in the rain", TWO, T2V, {}),
    # image_to_video: files (absolute, ~, quoted with a space, upper-case extension), session images
    ("animate photo.png", NONE, I2V, {"image": "photo.png"}),
    ("make this picture move, waves crashing on the rocks: /home/me/beach.jpg", NONE, I2V,
     {"image": "/home/me/beach.jpg"}),
    ("bring cat.jpeg to life, 6 seconds", NONE, I2V, {"image": "cat.jpeg", "duration": 6}),
    ("turn portrait.webp into a video where she smiles", NONE, I2V, {"image": "portrait.webp"}),
    ("animate the image ~/Pictures/dog.PNG so the dog wags its tail", NONE, I2V, {"image": "~/Pictures/dog.PNG"}),
    ("animate that frame", MIXED, I2V, {"image": "/s/frame.png"}),
    ("use that frame but at night", PHOTO, I2V, {"image": "/s/frame.png", "fit": "edit"}),
    ("make 'my photos/garden.jpg' move, but make it snowy first", NONE, I2V,
     {"image": "my photos/garden.jpg", "fit": "edit"}),
    ("photo.jpg animate please, 3 seconds", NONE, I2V, {"image": "photo.jpg", "duration": 3}),
    # extend_video: "it", "the clip", ordinals, files, added seconds
    ("make it longer", ONE, EXT, {"video": "/s/dog.mp4"}),
    ("make the clip of my dog 10 seconds longer", ONE, EXT, {"video": "/s/dog.mp4", "duration": 10}),
    ("extend holiday.mp4 by five seconds", NONE, EXT, {"video": "holiday.mp4", "duration": 5}),
    ("continue the second clip for 3 more seconds", TWO, EXT, {"video": "/s/clip2.mp4", "duration": 3}),
    ("keep it going for another 4s", TWO, EXT, {"video": "/s/clip2.mp4", "duration": 4}),
    ("can you add 6 seconds to the end of the video", ONE, EXT, {"video": "/s/dog.mp4", "duration": 6}),
    ("lengthen /data/run/video.mov by 2 sec", NONE, EXT, {"video": "/data/run/video.mov", "duration": 2}),
    ("extend the first clip", MIXED, EXT, {"video": "/s/clip1.mp4"}),
    ("mak it longr pls", ONE, EXT, {"video": "/s/dog.mp4"}),
    ("extend it by 3 seconds", ONE, EXT, {"video": "/s/dog.mp4", "duration": 3}),
    ("continue the video for 2 more seconds", TWO, EXT, {"video": "/s/clip2.mp4", "duration": 2}),
    ("extend video 1 by 3 secs", TWO, EXT, {"video": "/s/clip1.mp4", "duration": 3}),
    # edit_video
    ("make it night", ONE, EDIT, {"video": "/s/dog.mp4"}),
    ("make it snowy", TWO, EDIT, {"video": "/s/clip2.mp4"}),
    ("edit trip.mp4 so it happens at night", NONE, EDIT, {"video": "trip.mp4"}),
    ("turn the car in the first clip red", TWO, EDIT, {"video": "/s/clip1.mp4"}),
    ("change the video so that it is raining", ONE, EDIT, {"video": "/s/dog.mp4"}),
    ("in clip.webm make the sky purple", NONE, EDIT, {"video": "clip.webm"}),
    ("make the last video look like winter", MIXED, EDIT, {"video": "/s/clip3.mp4"}),
    # connect_videos: ordinals, numbers, "the last two", "them", files, "it" + a file
    ("now connect the first and the second clip", TWO, CONN, {"video": "/s/clip1.mp4", "video2": "/s/clip2.mp4"}),
    ("join a.mp4 and b.mp4 with a smooth transition", NONE, CONN, {"video": "a.mp4", "video2": "b.mp4"}),
    ("connect clip 1 and clip 3", MIXED, CONN, {"video": "/s/clip1.mp4", "video2": "/s/clip3.mp4"}),
    ("make a transition between the last two clips", MIXED, CONN,
     {"video": "/s/clip2.mp4", "video2": "/s/clip3.mp4"}),
    ("stitch them together with a 2 second transition", TWO, CONN,
     {"video": "/s/clip1.mp4", "video2": "/s/clip2.mp4", "duration": 2}),
    ("merge intro.mp4 with outro.mov", NONE, CONN, {"video": "intro.mp4", "video2": "outro.mov"}),
    ("connect it with extra.mp4", ONE, CONN, {"video": "/s/dog.mp4", "video2": "extra.mp4"}),
    ("connect the first clip to the last one", MIXED, CONN, {"video": "/s/clip1.mp4", "video2": "/s/clip3.mp4"}),
    # digital_world
    ("a minecraft-like village at sunrise", NONE, DW, {}),
    ("a medieval castle in a video game style", NONE, DW, {}),
    ("turn street.jpg into a video game world", NONE, DW, {"image": "street.jpg"}),
    ("a city street in digital world style using style transfer", NONE, DW, {"method": "transfer"}),
    ("pixel art forest like an 8-bit game, 6 seconds", NONE, DW, {"duration": 6}),
    ("an open world RPG landscape with mountains, rendered like a game", NONE, DW, {}),
    ("a village at sunrise in digital world style", NONE, DW, {}),
]  # fmt: skip

# Pointing at what the session holds: (request, session, task, the artifact each input is bound to).
POINTING_TABLE = [
    ("make the kite video snowy", KITE_LIGHTHOUSE_CAT, EDIT, {"video": 1}),
    ("stitch the lighthouse clip after the kite clip", KITE_LIGHTHOUSE_CAT, CONN, {"video": 1, "video2": 2}),
    ("connect the cat clip to the kite one", KITE_LIGHTHOUSE_CAT, CONN, {"video": 3, "video2": 1}),
    ("stitch the last two, newest first", KITE_LIGHTHOUSE_CAT, CONN, {"video": 3, "video2": 2}),
    ("join the kite and the cat, but the later one goes first", KITE_LIGHTHOUSE_CAT, CONN, {"video": 3, "video2": 1}),
    ("make the one with the kite look like claymation", KITE_LIGHTHOUSE_CAT, EDIT, {"video": 1}),
    ("make the first clip slow motion", KITE_LIGHTHOUSE_CAT, EDIT, {"video": 1}),
    ("give the lighthouse scene a green glow", KITE_LIGHTHOUSE_CAT, EDIT, {"video": 2}),
    ("merge the last two, but the cat one goes first", KITE_LIGHTHOUSE_CAT, CONN, {"video": 3, "video2": 2}),
    ("merge the last two, but #3 goes first", KITE_LIGHTHOUSE_CAT, CONN, {"video": 3, "video2": 2}),
    ("join the last two and end with #2", KITE_LIGHTHOUSE_CAT, CONN, {"video": 3, "video2": 2}),
    ("first the 3rd clip, then the 1st, with a fade in between", KITE_LIGHTHOUSE_CAT, CONN, {"video": 3, "video2": 1}),
    ("make it look faded, like an old home movie", KITE_LIGHTHOUSE_CAT, EDIT, {"video": 3}),
    ("continue the sleeping cat for 3 more seconds", KITE_LIGHTHOUSE_CAT, EXT, {"video": 3}),
    ("a lonely robot watering flowers on a rooftop garden", KITE_LIGHTHOUSE_CAT, T2V, {}),
    ("make the second clip black and white", KITE_BICYCLE_LIGHTHOUSE_CAT, EDIT, {"video": 3}),
    ("make #4 black and white", KITE_BICYCLE_LIGHTHOUSE_CAT, EDIT, {"video": 4}),
    ("make the one before last black and white", KITE_BICYCLE_LIGHTHOUSE_CAT, EDIT, {"video": 3}),
    ("edit what turn 1 made so it is black and white", KITE_BICYCLE_LIGHTHOUSE_CAT, EDIT, {"video": 1}),
    ("animate the bicycle photo, its wheels spinning", KITE_BICYCLE_LIGHTHOUSE_CAT, I2V, {"image": 2}),
]  # fmt: skip

ROUTING_FLOOR = 0.79
"""The share of both tables the shipped model must get right on its first answer (a question counts as wrong).
Measured with the shipped weights: 62 of 77 (80.5%); the rows it misses are printed. The tables were written for
the rule-based director this model replaced, which was fitted to them (all right)."""

LULLABY_SOP = """\
name: lullaby
description: A slow, calm bedtime video for small children, like a sung lullaby.
examples:
  - a lullaby for my baby with a sleepy owl under the moon
  - a bedtime song video with twinkling stars to help a toddler fall asleep
  - a soothing nursery rhyme with sheep jumping over a fence
inputs:
  prompt: {type: text, required: true, description: what the lullaby shows}
  verses: {type: int, default: 1, description: how many verses}
  mood: {type: choice, choices: [calm, dreamy], default: calm}
  length: {type: seconds, default: 6, description: length of the video}
steps:
  - id: enhance
    agent: A1
    with:
      prompt: $inputs.prompt
      suffix: soft pastel colours, slow gentle motion
  - id: frame
    agent: A2
    with: {prompt: $enhance.prompt}
  - id: animate
    agent: A4
    with: {image: $frame.image, duration: $inputs.length}
output: animate
"""


def mora(*args: str):
    """`mora` in this process (conftest sets HF_HUB_OFFLINE)."""
    return mora_here(*args)


@pytest.fixture(scope="module")
def builtin_sops() -> dict[str, SopSpec]:
    return {name: SopSpec.from_file(entry.path) for name, entry in list_sops().items()}


@pytest.fixture(scope="module")
def director(builtin_sops) -> DirectorAgent:
    return DirectorAgent("director", sops=builtin_sops)


def route(agent: DirectorAgent, text: str, artifacts=(), seed: int = 0):
    """The director's answer and its metadata, through AutoGen's ``on_messages``."""
    message = StructuredMessage[DirectorTurn](content=DirectorTurn(text=text, artifacts=list(artifacts), seed=seed),
                                              source="user")  # fmt: skip
    response = asyncio.run(agent.on_messages([message], CancellationToken()))
    return response.chat_message.content, response.chat_message.metadata


def bound(answer: VideoRequest) -> dict[str, int | None]:
    return {b.input: b.artifact for b in answer.bindings if b.artifact is not None}


# -- the tables ----------------------------------------------------------------------------------------------


def _routing_problem(director, text, artifacts, task, inputs) -> str | None:
    """What is wrong with the answer to one routing-table row (``None``: right)."""
    answer, metadata = route(director, text, artifacts, seed=3)
    got = answer.inputs if isinstance(answer, VideoRequest) else {"question": answer.question}
    if not isinstance(answer, VideoRequest) or answer.task != task or any(got.get(k) != v for k, v in inputs.items()):
        return f"  {text!r}: want {task} {inputs}, got {answer.task} {got} (p {metadata['confidence']})"
    assert answer.seed == 3 and metadata["decided_by"] == "learned"
    if "prompt" in director.sops[task].inputs and director.sops[task].inputs["prompt"].required:
        assert answer.inputs["prompt"] and not find_paths(answer.inputs["prompt"])
    return None


def _pointing_problem(director, text, artifacts, task, clips) -> str | None:
    answer, metadata = route(director, text, artifacts)
    if not isinstance(answer, VideoRequest) or answer.task != task or bound(answer) != clips:
        got = bound(answer) if isinstance(answer, VideoRequest) else answer.question
        return f"  {text!r}: want {task} {clips}, got {answer.task} {got} (p {metadata['confidence']})"
    return None


@pytest.mark.slow
def test_the_trained_director_on_the_routing_and_pointing_tables(director, capsys):
    assert len(ROUTING_TABLE) >= 40 and {task for _, _, task, _ in ROUTING_TABLE} == set(director.sops)
    director.resolver.warm_up(director.sops)  # the model load, timed apart from the routes
    wrong, seconds = [], []
    for rows, check in ((ROUTING_TABLE, _routing_problem), (POINTING_TABLE, _pointing_problem)):
        for row in rows:
            started = time.perf_counter()
            problem = check(director, *row)
            seconds.append(time.perf_counter() - started)
            wrong += [problem] if problem else []
    total = len(ROUTING_TABLE) + len(POINTING_TABLE)
    accuracy = 1 - len(wrong) / total
    with capsys.disabled():
        print(
            f"\ndirector: {accuracy:.1%} of {total} requests right on the first answer (per route median "
            f"{statistics.median(seconds) * 1000:.0f} ms, max {max(seconds):.2f} s)"
        )
        print("\n".join(wrong))
    assert accuracy >= ROUTING_FLOOR, "\n".join(wrong)


# -- questions instead of guesses ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("text", "artifacts", "task", "missing", "words"),
    [
        ("extend it", NONE, EXT, ["video"], ["video", "no video"]),
        ("make this clip 4 seconds longer", PHOTO, EXT, ["video"], ["video"]),
        ("now connect the first and the second clip", ONE, CONN, ["video2"], ["second clip"]),
        ("animate this photo, waves crashing", NONE, I2V, ["image"], ["image"]),
        ("a sailboat crossing a calm bay at noon, 2 hours long", NONE, T2V, ["duration"], ["600 seconds", "7200"]),
    ],
)
def test_the_director_asks_when_something_required_is_missing(director, text, artifacts, task, missing, words):
    answer, _ = route(director, text, artifacts)
    assert isinstance(answer, ClarifyingQuestion), answer
    assert answer.task == task and answer.missing == missing
    assert all(word in answer.question.lower() for word in words), answer.question


@pytest.mark.slow
def test_a_question_lists_the_candidates_with_their_numbers(director):
    beaches = [
        shown(1, "video", "kids running along a beach at low tide"),
        shown(2, "video", "a bookshop with a cat on the counter"),
        shown(3, "video", "a beach at sunset with waves rolling in"),
    ]
    answer, metadata = route(director, "extend the beach one by 3 seconds", beaches)
    assert isinstance(answer, ClarifyingQuestion) and answer.candidates == [1, 3], answer
    assert "#1 clip 1 (kids running along a beach at low tide)" in answer.question
    assert "#3 clip 3 (a beach at sunset with waves rolling in)" in answer.question and "#2" not in answer.question
    assert metadata["asked_because"] and float(metadata["confidence"]) < 0.85
    answer, _ = route(director, "extend #7", beaches)  # a number that does not exist says so
    assert isinstance(answer, ClarifyingQuestion) and "no #7" in answer.question and not answer.candidates


@pytest.mark.slow
def test_what_the_director_understood_names_the_clip_by_what_it_shows(director):
    answer, _ = route(director, "continue the sleeping cat for 3 more seconds", KITE_LIGHTHOUSE_CAT)
    assert answer.task == EXT and bound(answer) == {"video": 3} and answer.inputs["duration"] == 3.0, answer
    assert answer.explanation == "extend clip 3 (a cat sleeping on a sunny windowsill) by 3 s"
    answer, _ = route(director, "extend the cat one by 2", KITE_LIGHTHOUSE_CAT)  # an amount with no unit
    assert answer.task == EXT and answer.inputs["duration"] == 2.0, answer


# -- user SOPs route with no code change ---------------------------------------------------------------------


@pytest.mark.slow
def test_a_user_sop_from_an_extra_folder_is_routed_to(tmp_path, director):
    (tmp_path / "lullaby.yaml").write_text(LULLABY_SOP)
    sops = {name: SopSpec.from_file(entry.path) for name, entry in list_sops([tmp_path]).items()}
    agent = DirectorAgent("director", sops=sops)
    answer, metadata = route(agent, "a lullaby with a sleepy owl for my little one, two verses, dreamy, 8 seconds")
    assert isinstance(answer, VideoRequest), answer
    assert answer.task == "lullaby", metadata
    assert answer.inputs == {
        # The duration has its own input, so it leaves the prompt.
        "prompt": "a lullaby with a sleepy owl for my little one, two verses, dreamy",
        "verses": 2,
        "mood": "dreamy",
        "length": 8.0,
    }
    assert sops["lullaby"].bind_inputs(answer.inputs)["length"] == 8.0
    # The built-in tasks still route as before beside it.
    assert route(agent, "make it longer", ONE)[0].task == EXT
    assert route(agent, "a corgi running along a beach at sunset")[0].task == T2V


def test_an_sop_with_route_cues_is_told_they_are_no_longer_read(tmp_path):
    sop = LULLABY_SOP.replace("inputs:", "route:\n  cues: ['\\blullaby']\ninputs:", 1)
    (tmp_path / "lullaby.yaml").write_text(sop)
    with pytest.raises(MoraError, match=r"lullaby\.yaml:\d+ route: route cues are no longer read: .* into examples"):
        SopSpec.from_file(tmp_path / "lullaby.yaml")
    (tmp_path / "lullaby.yaml").write_text(LULLABY_SOP.replace("inputs:", "summary: 'sing {song}'\ninputs:", 1))
    message = r"lullaby\.yaml:\d+ summary: \{song\} is not an input of this task"
    with pytest.raises(MoraError, match=message):
        SopSpec.from_file(tmp_path / "lullaby.yaml")


# -- the closed grammars -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10 seconds", 10), ("5s", 5), ("a minute", 60), ("2.5 sec", 2.5), ("ten seconds", 10),
        ("3 seconds longer", 3), ("half a minute", 30), ("1 minute 30 seconds", 90), ("a 6-second clip", 6),
        ("twenty five seconds", 25), ("another 4s", 4), ("an hour", 3600), ("a minute and a half", 90),
        ("no duration here", None),
        ("a 6 second clip, then make it 3 seconds longer", 3), ("I have 2 dogs", None),
        ("a couple seconds longer", 2), ("add a couple more seconds", 2), ("a couple seconds longer? like 2", 2),
        ("a few seconds longer, say 3", 3), ("5 seconds longer, like 6.", 6), ("a few seconds longer", None),
        ("4 seconds, like 2 clips", 4),
    ],
)  # fmt: skip
def test_durations(text, seconds):
    assert parse_duration(text, prefer_added=True) == seconds


def test_file_paths_are_found_with_their_kind():
    text = 'join "my clips/a b.MP4" and ./b.webm, then animate ~/x.jpeg; ignore notes.txt and photo.pngx'
    assert [(p.path, p.kind) for p in find_paths(text)] == [
        ("my clips/a b.MP4", "video"),
        ("./b.webm", "video"),
        ("~/x.jpeg", "image"),
    ]


def test_session_files(tmp_path):
    with pytest.raises(MoraError, match="is not a folder"):
        read_session_artifacts(tmp_path / "nowhere")
    with pytest.raises(MoraError, match="has no session.json"):
        read_session_artifacts(tmp_path)
    (tmp_path / "session.json").write_text('{"artifacts": [{"index": 0}]}')
    with pytest.raises(MoraError, match=r"artifacts\[0\]\.index"):
        read_session_artifacts(tmp_path)
    inside = video(1, "a.mp4").model_copy(update={"path": str(tmp_path / "runs" / "a.mp4")})
    (tmp_path / "session.json").write_text(json.dumps({"turns": [], "artifacts": [inside.model_dump()]}))
    assert read_session_artifacts(tmp_path) == [inside]
    # An artifact outside the session folder (here /s/a.mp4) is refused: mora reads nothing outside it.
    (tmp_path / "session.json").write_text(json.dumps({"turns": [], "artifacts": [video(1, "a.mp4").model_dump()]}))
    with pytest.raises(MoraError, match="outside the session folder"):
        read_session_artifacts(tmp_path)


# -- the command line ----------------------------------------------------------------------------


def test_mora_route_rejects_a_missing_session_in_one_sentence(tmp_path):
    result = mora("route", "make it longer", "--session", str(tmp_path / "nope"))
    assert result.returncode == 2 and not result.stdout
    assert result.stderr.startswith("error:") and "nope is not a folder" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.fixture
def session_folder(tmp_path) -> Path:
    clips = [video(1, "dog.mp4"), video(2, "cat.mp4")]
    for clip in clips:
        clip.path = str(tmp_path / Path(clip.path).name)
    session = {"name": "s", "turns": [], "artifacts": [clip.model_dump() for clip in clips]}
    (tmp_path / "session.json").write_text(json.dumps(session))
    return tmp_path


@pytest.mark.slow
def test_mora_route_prints_the_request_as_json(session_folder):
    result = mora("route", "make the second clip 3 seconds longer", "--session", str(session_folder), "--seed", "7")
    assert result.returncode == 0, result.stderr
    request = VideoRequest.model_validate_json(result.stdout)
    assert request == VideoRequest(
        task=EXT,
        inputs={"video": str(session_folder / "cat.mp4"), "duration": 3.0},
        seed=7,
        explanation="extend clip 2 (cat.mp4) by 3 s",
        bindings=[InputBinding(input="video", artifact=2, how="model")],
    )
    assert not result.stderr.strip()  # no progress bars, no load times: stdout is the JSON and nothing else


def test_mora_route_prints_a_clarifying_question_as_json():
    result = mora("route", "now connect the first and the second clip", "--llm", "none")
    assert result.returncode == 0, result.stderr
    question = ClarifyingQuestion.model_validate(json.loads(result.stdout))
    assert question.task == CONN and question.missing == ["video"] and not question.candidates
    assert question.question == (
        "There is no video in this session for the first clip. Name a video file, e.g. 'holiday.mp4'."
    )
