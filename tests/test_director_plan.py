"""The director as a typed plan: the closed-grammar front, the per-turn schema, the checks after the model, the
learned resolver (the shipped weights, on a blind validation file) and the LLM resolver's mechanics against a real
llama.cpp server (grammar-constrained enums) and AutoGen's replay client (answers that name what does not exist)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from autogen_ext.models.replay import ReplayChatCompletionClient
from pydantic import ValidationError
from test_llm_openai_backend import llama_server  # noqa: F401  (the fixture: a real llama.cpp server)

from mora_agents.director import (
    DirectorAgent,
    LearnedResolver,
    LlmResolver,
    PlanBinding,
    PlanQuestion,
    TurnPlan,
    check_plan,
    describe,
    plan_schema,
    read_turn,
    with_answers,
)
from mora_agents.director.corpus import load_cases, outcome
from mora_agents.messages import ClarifyingQuestion, DirectorTurn, QuestionAnswer, SessionArtifact, VideoRequest
from mora_agents.sop import SopSpec, list_sops
from tests.cli_in_process import mora_here

CORPUS = Path(__file__).parent / "director_corpus"


def artifact(index: int, kind: str, prompt: str, task: str | None = None, sources=()) -> SessionArtifact:
    task = task or ("text_to_video" if kind == "video" else "input")
    return SessionArtifact(
        index=index, kind=kind, path=f"/s/{index}", turn=index, task=task, prompt=prompt, sources=list(sources)
    )


SESSION = [
    artifact(1, "video", "a kite over a windy beach"),
    artifact(2, "image", "my cat asleep on a sofa"),
    artifact(3, "video", "a lighthouse at night"),
    artifact(4, "video", "make it 2 seconds longer", "extend_video", [3]),
]


@pytest.fixture(scope="module")
def sops() -> dict[str, SopSpec]:
    return {name: SopSpec.from_file(entry.path) for name, entry in list_sops().items()}


# -- the front: closed grammars only ---------------------------------------------------------------------------


def test_the_front_reads_list_numbers_numbered_kinds_turns_and_files():
    reading = read_turn("join #3 and clip 1, then animate photo 1 from turn 2; use clip2.mp4 for 4 seconds", SESSION)
    assert [(m.phrase, m.artifact, m.how) for m in reading.mentions] == [
        ("#3", 3, "listed"),
        ("clip 1", 1, "position"),
        ("photo 1", 2, "position"),
        ("turn 2", 2, "turn"),
    ]
    assert [p.path for p in reading.paths] == ["clip2.mp4"]  # a file, not "clip 2"
    assert reading.duration() == 4.0
    assert reading.problems == []


def test_the_front_names_what_cannot_be():
    reading = read_turn("extend clip 7 and #9", SESSION)
    assert reading.mentions == []
    assert reading.problems == ["there is no #9 in this session", "there is no video 7: the session has 3"]


def test_the_front_reads_no_ordinal_or_content_words():
    """'the third one', 'the kite clip', 'the extended one' are the resolver's to read, not the front's."""
    reading = read_turn("make the third one and the kite clip and the extended one snowy", SESSION)
    assert reading.mentions == []
    assert [(reading.text[n.start : n.end], n.value) for n in reading.numerals] == [("third", 3)]


def test_numerals_are_numbers_only_outside_mentions_and_durations():
    """What "2", "the 4th" or "number four" count (the list, a kind, from the end) is the model's to decide; a
    list number, a numbered clip and a duration are not numerals again, and "one" is a pronoun."""
    reading = read_turn("join #3 and clip 1 with the 4th and number four, 2 seconds, the blue one", SESSION)
    assert [(reading.text[n.start : n.end], n.value) for n in reading.numerals] == [("4th", 4), ("four", 4)]


def test_a_joins_instruction_is_not_what_it_shows():
    """'now connect the first and the second clip' names places, not content: "the second clip" must not match it."""
    from mora_agents.director._describe import content

    joined = artifact(5, "video", "now connect the first and the second clip", "connect_videos", [1, 3])
    assert content(joined, [*SESSION, joined]) == "a kite over a windy beach; a lighthouse at night"
    assert content(SESSION[3], SESSION) == "a lighthouse at night"  # an extension shows its source


def test_artifacts_describe_their_derivation():
    assert describe(SESSION[3], SESSION) == (
        '#4 video extended from #3 (a lighthouse at night): "make it 2 seconds longer"'
    )
    assert describe(SESSION[1], SESSION) == '#2 image given by the user: "my cat asleep on a sofa"'


# -- the schema and the checks -----------------------------------------------------------------------------------


def test_the_schema_names_only_this_sessions_artifacts_and_the_registered_tasks(sops):
    schema = plan_schema(sops, SESSION)
    answer = {"task": "edit_video", "ask": [], **{f: None for f in ("image", "video", "video2")}}
    answer |= {f"{f}_frame": "none" for f in ("image", "video", "video2")}
    assert schema.model_validate(answer | {"video": 3}).video == 3
    with pytest.raises(ValidationError):
        schema.model_validate(answer | {"video": 5})  # no #5
    with pytest.raises(ValidationError):
        schema.model_validate(answer | {"task": "make_coffee"})
    with pytest.raises(ValidationError):
        schema.model_validate(answer | {"colour": "red"})  # strict: nothing else
    json_schema = schema.model_json_schema()
    assert json_schema["additionalProperties"] is False
    assert set(json_schema["required"]) == set(json_schema["properties"])  # OpenAI strict mode needs every field


@pytest.mark.parametrize(
    ("binding", "reason"),
    [
        (PlanBinding(input="video", artifact=2), "#2 is an image, not a video"),
        (PlanBinding(input="video", artifact=9), "there is no #9 in this session"),
        (PlanBinding(input="video", artifact=2, frame="last"), "#2 is an image: it has no frames"),
        (PlanBinding(input="colour", value="red"), "edit_video has no input 'colour'"),
    ],
)
def test_a_plan_that_does_not_fit_its_task_becomes_a_question(sops, binding, reason):
    plan = TurnPlan(task="edit_video", bindings=[binding, PlanBinding(input="prompt", value="x")], resolver="llm")
    checked = check_plan(plan, sops["edit_video"], SESSION)
    assert checked.question is not None and checked.question.reason == reason


def test_a_plan_missing_a_required_input_asks_for_it(sops):
    plan = TurnPlan(task="connect_videos", bindings=[PlanBinding(input="video", artifact=1)], resolver="llm")
    checked = check_plan(plan, sops["connect_videos"], SESSION)
    assert checked.question.input == "video2" and checked.question.candidates == [3, 4]  # not #1 again


# -- the learned resolver ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def learned(sops) -> DirectorAgent:
    return DirectorAgent("director", sops=sops, resolver=LearnedResolver())


def bound(answer: VideoRequest) -> dict[str, int]:
    return {b.input: b.artifact for b in answer.bindings if b.artifact is not None}


def direct(director: DirectorAgent, text: str, artifacts=SESSION):
    return asyncio.run(director.direct(DirectorTurn(text=text, artifacts=artifacts)))


def test_the_learned_resolver_fills_a_plan_with_its_confidence(learned):
    answer, trace = direct(learned, "extend #3 by 2 seconds")
    assert isinstance(answer, VideoRequest) and answer.task == "extend_video", answer
    assert answer.inputs == {"video": "/s/3", "duration": 2.0}
    assert trace.decided_by == "learned"
    plan = trace.plan
    assert plan is not None and plan.resolver == "learned" and 0.0 < plan.confidence <= 1.0
    assert [task for task, _ in plan.ranking][0] == "extend_video"
    assert plan.binding("video").how == "listed"


def test_the_learned_resolver_asks_about_what_the_closed_grammar_cannot_find(learned):
    answer, trace = direct(learned, "extend clip 7 by 2 seconds")
    assert isinstance(answer, ClarifyingQuestion)
    assert answer.question.startswith("There is no video 7: the session has 3.")
    assert trace.metadata()["asked_because"] == "there is no video 7: the session has 3"


def test_a_file_named_in_the_turn_is_bound_as_a_file(learned):
    answer, _ = direct(learned, "animate holiday.png, waves rolling in")
    assert isinstance(answer, VideoRequest) and answer.task == "image_to_video"
    assert answer.inputs["image"] == "holiday.png"
    assert answer.bindings[0].how == "file"


def test_an_answered_question_is_taken_as_said_and_the_other_clip_chosen_given_it(learned):
    """ "#3" in reply to "which clip first?": the join starts with #3, and the model picks the other clip knowing it
    (never #3 again); an answer about the clip that ends it works the same way."""
    session = [
        artifact(1, "video", "a red kite over a windy hill"),
        artifact(2, "video", "a lighthouse at night"),
        artifact(3, "video", "a yellow tram climbing a steep street"),
    ]
    turn = DirectorTurn(text="join the kite and the tram", artifacts=session)
    for answered, want in (({"video": 3}, {"video": 3, "video2": 1}), ({"video2": 1}, {"video": 3, "video2": 1})):
        settled = turn.model_copy(update={"answered": QuestionAnswer(task="connect_videos", inputs=answered)})
        answer, trace = asyncio.run(learned.direct(settled))
        assert isinstance(answer, VideoRequest) and bound(answer) == want, (answered, answer)
        (name,) = answered
        assert trace.plan.binding(name).how == "listed"


def test_answers_bind_an_llm_plan_too(sops):
    plan = TurnPlan(
        task="edit_video", resolver="llm", question=PlanQuestion(input="video", candidates=[1, 3], reason="x")
    )
    settled = with_answers(plan, QuestionAnswer(task="edit_video", inputs={"video": 3}))
    assert settled.question is None and settled.binding("video").artifact == 3
    assert with_answers(plan, QuestionAnswer(task="extend_video", inputs={"video": 3})) == plan


def test_a_user_sop_routes_through_the_learned_resolver_by_its_examples_and_inputs(tmp_path):
    """The model has never seen 'lullaby': it routes by the SOP's examples and inputs, and fills its values."""
    from test_director import LULLABY_SOP

    (tmp_path / "lullaby.yaml").write_text(LULLABY_SOP)
    sops = {name: SopSpec.from_file(entry.path) for name, entry in list_sops([tmp_path]).items()}
    director = DirectorAgent("director", sops=sops, resolver=LearnedResolver())
    answer, trace = direct(director, "a lullaby with a sleepy owl for my little one, two verses, dreamy, 8 seconds", [])
    assert isinstance(answer, VideoRequest) and answer.task == "lullaby", trace.plan
    assert answer.inputs == {
        "prompt": "a lullaby with a sleepy owl for my little one, two verses, dreamy",
        "verses": 2,
        "mood": "dreamy",
        "length": 8.0,
    }
    assert direct(director, "a corgi running along a beach at sunset", [])[0].task == "text_to_video"


@pytest.mark.slow
def test_the_learned_resolver_on_a_blind_validation_file(learned):
    """heldout19.yaml was written blind and is never trained on (it chose the asking threshold): the shipped
    model's figure there. Measured when the weights were made: see the corpus README."""
    cases = load_cases(CORPUS / "heldout19.yaml")
    outcomes = [outcome(case, direct(learned, case.say, case.artifacts)[0]) for case in cases]
    right, wrong = outcomes.count("right"), outcomes.count("wrong")
    # The shipped ensemble: 51 right, 7 asked where the meaning was clear, 1 silently wrong (and 1 asked about
    # other clips than the file's); the rule-based director it replaced: 40, 12, 8.
    assert right >= 50 and wrong <= 1, f"right {right}/60, silently wrong {wrong}"


# -- the LLM resolver's mechanics ---------------------------------------------------------------------------------


def _answer(**fields) -> str:
    answer = {"task": "edit_video", "ask": [], **{f: None for f in ("image", "video", "video2")}}
    answer |= {f"{f}_frame": "none" for f in ("image", "video", "video2")}
    return json.dumps(answer | fields)


def test_the_llm_resolver_retries_an_answer_naming_an_artifact_that_does_not_exist(sops):
    client = ReplayChatCompletionClient([_answer(video=9), _answer(video=3)])
    director = DirectorAgent("director", sops=sops, resolver=LlmResolver(client))
    answer, trace = direct(director, "make the lighthouse clip snowy")
    assert isinstance(answer, VideoRequest) and answer.inputs["video"] == "/s/3"
    assert trace.plan.resolver == "llm" and trace.decided_by == "llm-plan"
    assert len(director.resolver.answers) == 2


def test_the_llm_resolver_falls_back_to_the_learned_model_after_two_bad_answers(sops):
    client = ReplayChatCompletionClient(["not json at all", _answer(task="make_coffee")])
    resolver = LlmResolver(client, fallback=LearnedResolver())
    director = DirectorAgent("director", sops=sops, resolver=resolver)
    answer, trace = direct(director, "extend #3 by 2 seconds")
    assert trace.plan.resolver == "learned"
    assert isinstance(answer, VideoRequest) and answer.task == "extend_video" and answer.inputs["video"] == "/s/3"


def test_the_llm_resolver_asks_when_the_llm_lists_candidates(sops):
    client = ReplayChatCompletionClient([_answer(ask=[1, 3])])
    director = DirectorAgent("director", sops=sops, resolver=LlmResolver(client))
    answer, _ = direct(director, "make the beach one snowy")
    assert isinstance(answer, ClarifyingQuestion) and answer.candidates == [1, 3]


@pytest.mark.slow
def test_the_llm_resolver_through_a_real_server_answers_within_the_schema(request, sops, monkeypatch):
    """llama.cpp's server turns the per-turn JSON schema into a grammar: even SmolLM2-135M can only name a task
    that exists and artifacts of this session. (What it names is not asserted: 135M parameters do not read a
    session well; the mechanics are what this tests.)"""
    from test_llm_openai_backend import SERVED_MODEL

    from mora_agents.conversation import make_director

    for name in ("MORA_LLM_API_KEY", "OPENAI_API_KEY", "MORA_LLM_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    server = request.getfixturevalue("llama_server")
    monkeypatch.setenv("MORA_LLM_BASE_URL", f"{server}/v1")
    monkeypatch.setenv("MORA_LLM_MODEL", SERVED_MODEL)
    monkeypatch.setenv("MORA_LLM_STRUCTURED", "json_object")  # llama-cpp-python's server: schema -> grammar
    director = make_director(None)  # MORA_LLM_BASE_URL set: the LLM reads turns by default
    resolver = director.resolver
    assert isinstance(resolver, LlmResolver) and resolver.schema_format == "json_object"

    async def turns() -> None:  # one event loop: the client's connections belong to it
        try:
            for text in ("make the lighthouse clip snowy", "join the kite and the lighthouse", "a corgi on a beach"):
                _, trace = await director.direct(DirectorTurn(text=text, artifacts=SESSION))
                assert len(resolver.answers) == 1, resolver.answers  # the first answer parsed: the grammar held
                data = json.loads(resolver.answers[0])
                assert data["task"] in sops
                named = [data[f] for f in ("image", "video", "video2") if data[f] is not None] + data["ask"]
                assert set(named) <= {1, 2, 3, 4}
                assert trace.plan.resolver == "llm"
        finally:
            await resolver.client.close()

    asyncio.run(turns())


# -- the command line -----------------------------------------------------------------------------------------------


def test_route_explains_the_learned_plan(tmp_path):
    session = tmp_path / "session"
    session.mkdir()
    artifacts = [a.model_copy(update={"path": str(session / f"{a.index}.mp4")}) for a in SESSION]
    (session / "session.json").write_text(json.dumps({"artifacts": [a.model_dump() for a in artifacts]}))
    done = mora_here("route", "extend #3 by 2 seconds", "--session", str(session), "--director", "learned", "--explain")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["task"] == "extend_video"
    assert '#4 video extended from #3 (a lighthouse at night): "make it 2 seconds longer"' in done.stderr
    assert "plan (learned): extend_video, confidence" in done.stderr
    assert "video = #3, p 1.00, by listed" in done.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--director", "bogus"), "error: unknown director 'bogus': choose one of learned, llm\n"),
        (("--director", "llm", "--llm", "none"), "error: the llm director needs an LLM: drop --llm none, or choose "
         "--director learned\n"),
    ],
)  # fmt: skip
def test_a_wrong_director_is_one_sentence(args, said):
    done = mora_here("route", "a cat on a sofa", *args)
    assert (done.returncode, done.stderr) == (2, said)


# -- the training data ----------------------------------------------------------------------------------------


def test_training_never_reads_the_test_split_or_the_validation_files():
    from mora_agents.director.training import TEST_SPLIT, VALIDATION, corpus_files

    training, validation = corpus_files(CORPUS)
    names = {p.name for p in training}
    assert set(TEST_SPLIT) <= {p.name for p in CORPUS.glob("*.yaml")}, "a test-split file is missing"
    assert not names & set(TEST_SPLIT) and not names & set(VALIDATION)
    assert sorted(p.name for p in validation) == sorted(VALIDATION)


def test_generated_sessions_are_consistent_and_seeded():
    """Every generated case names artifacts that exist and fit their input's kind; the same seed, the same cases."""
    from mora_agents.director.training import corpus_files, generated_cases
    from mora_agents.director.training_data import load_phrases

    corpus = [c for p in corpus_files(CORPUS)[0] for c in load_cases(p)]
    cases = generated_cases(corpus, load_phrases(CORPUS), 400)
    assert [c.say for c in cases] == [c.say for c in generated_cases(corpus, load_phrases(CORPUS), 400)]
    assert {c.category for c in cases} == {"position", "content", "order", "intent", "ambiguity", "image", "derivation"}
    for case in cases:
        kinds = {a.index: a.kind for a in case.artifacts}
        for name, (number, frame) in case.media().items():
            assert kinds[number] == ("video" if name in ("video", "video2") or frame else "image"), case
        for number in case.expect.get("ask", []):
            assert number in kinds, case
