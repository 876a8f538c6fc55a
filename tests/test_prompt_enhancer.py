"""A1: the embedded LLM for real; replayed answers for the garbage a model can produce."""

import asyncio

import pytest
from autogen_agentchat.messages import StructuredMessage
from autogen_core import CancellationToken
from autogen_core.models import ModelFamily
from autogen_ext.models.replay import ReplayChatCompletionClient

from mora_agents.agents import PromptEnhancerAgent
from mora_agents.agents._faithfulness import asked_words, borrowed_phrases, lost_words
from mora_agents.agents._prompt_enhancer import EXAMPLES, MAX_WORDS, check_prompt, parse_prompt_answer
from mora_agents.agents.enhancer_training import train
from mora_agents.llm import create_llm, embedded_model_path, prefix_grammar
from mora_agents.messages import EnhancedPrompt, PromptEnhancementRequest


def enhance(agent, prompt, instruction=None) -> EnhancedPrompt:
    content = PromptEnhancementRequest(prompt=prompt, instruction=instruction)
    message = StructuredMessage[PromptEnhancementRequest](content=content, source="user")
    response = asyncio.run(agent.on_messages([message], CancellationToken()))
    assert isinstance(response.chat_message, StructuredMessage)
    return response.chat_message.content


@pytest.fixture(scope="module")
def embedded():
    return create_llm("embedded")


@pytest.fixture(scope="module")
def embedded_plain():
    """SmolLM2 without A1's adapter and without the prefix grammar: the free rewrite A1 made before it had them."""
    backend = create_llm("embedded", adapter=False)
    backend.prefix_args = None
    return backend


def assert_enhanced(result: EnhancedPrompt, backend, request: str) -> None:
    """The LLM's own prompt was used: it passed the checks, keeps every asked word of ``request`` and adds at least
    four words (an echo keeps everything but enhances nothing)."""
    assert (result.source, result.warning) == ("llm", None), result
    assert result.model == backend.name and result.model.startswith("embedded:")
    assert check_prompt(result.prompt) is None
    assert lost_words(request, result.prompt) == [], result.prompt
    assert len(request.split()) + 4 <= len(result.prompt.split()) <= MAX_WORDS, result.prompt


# Requests on which A1 before its adapter and grammar (SmolLM2 rewriting freely, validated by "keeps half of the
# content words") lost what was asked: "an owl landing ... at night" became "A majestic owl perched on a snowy
# branch", "two kids flying a yellow kite" became "A pair of little yellow kite flying", the cat stopped knocking.
DROPPED_BEFORE = [
    "an owl landing on a snowy branch at night",
    "two kids flying a yellow kite",
    "a cat knocking a glass off a table",
    "an old fisherman mending nets at dawn",
]


@pytest.mark.slow
@pytest.mark.parametrize("request_text", DROPPED_BEFORE)
def test_embedded_a1_keeps_every_asked_word(embedded, request_text):
    agent = PromptEnhancerAgent.from_backend("a1", embedded)
    result = enhance(agent, request_text)
    assert result.original == request_text
    assert_enhanced(result, embedded, request_text)
    # The grammar: the person's words come first, verbatim; the adapter's detail follows.
    assert result.prompt.startswith(request_text + ", "), result.prompt
    # Greedy decoding: the same request gives the same prompt.
    assert enhance(agent, request_text).prompt == result.prompt


@pytest.mark.slow
def test_a_free_rewrite_that_drops_words_is_caught(embedded_plain):
    """Without the adapter and the grammar, SmolLM2 drops "landing" and "night" here (greedy, repeatable): the
    check rejects the answer, asks again naming them, and what reaches A2 keeps them either way."""
    request_text = DROPPED_BEFORE[0]
    agent = PromptEnhancerAgent.from_backend("a1", embedded_plain)
    result = enhance(agent, request_text)
    assert result.attempts == 2 and "landing" in result.lost, result
    assert lost_words(request_text, result.prompt) == [], result.prompt
    if result.source == "fallback":
        assert result.prompt == request_text and "dropped what was asked" in result.warning


@pytest.mark.slow
def test_the_grammar_keeps_quotes_and_odd_characters_verbatim(embedded):
    request_text = 'a neon sign that says "OPEN 24/7" \\ flickering'
    result = enhance(PromptEnhancerAgent.from_backend("a1", embedded), request_text)
    assert result.source == "llm", result
    assert result.prompt.startswith(request_text.rstrip() + ", "), result.prompt


@pytest.mark.slow
def test_embedded_llm_edit_carries_the_instruction(embedded):
    agent = PromptEnhancerAgent.from_backend("a1", embedded)
    result = enhance(agent, "a lighthouse on a cliff", instruction="stormy night")
    assert result.original == "a lighthouse on a cliff"
    assert lost_words("stormy night", result.prompt) == [], result
    assert lost_words("a lighthouse on a cliff", result.prompt) == [], result


def replay(*answers):
    info = {"vision": False, "function_calling": False, "json_output": True, "family": ModelFamily.UNKNOWN,
            "structured_output": True}  # fmt: skip
    return ReplayChatCompletionClient(list(answers), model_info=info)


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ('{"prompt": ""}', "empty"),
        ('{"prompt": "' + "sunset beach corgi glowing " * 40 + '"}', "runaway"),
        ('{"prompt": "' + "corgi corgi beach " * 6 + '"}', "degenerate"),
        ('{"prompt": "{}[]<>!!##$$%%^^&&**"}', "not prose"),
    ],
)
def test_unusable_answers_fall_back_to_the_user_prompt(answer, problem):
    agent = PromptEnhancerAgent("a1", replay(answer), model_name="replay")
    result = enhance(agent, "a corgi on a sunny beach")
    assert result.source == "fallback"
    assert result.prompt == "a corgi on a sunny beach"
    assert problem in result.warning
    assert result.attempts == 1  # greedy decoding would answer the same again


def test_a_dropped_word_is_asked_for_again_by_name():
    first = '{"prompt": "A fluffy corgi resting on warm sand, golden light"}'
    second = '{"prompt": "A fluffy corgi on a sunny beach, golden light, low angle"}'
    client = replay(first, second)
    result = enhance(PromptEnhancerAgent("a1", client, examples=()), "a corgi on a sunny beach")
    assert (result.source, result.attempts, result.lost) == ("llm", 2, ["sunny", "beach"]), result
    assert result.prompt == "A fluffy corgi on a sunny beach, golden light, low angle"
    assert result.warning is None


def test_two_dropping_answers_keep_the_persons_words_and_say_what_was_lost():
    dropping = '{"prompt": "A majestic owl perched on a snowy branch, soft light"}'
    client = replay(dropping, dropping)
    result = enhance(PromptEnhancerAgent("a1", client), "an owl landing on a snowy branch at night")
    assert (result.source, result.attempts, result.lost) == ("fallback", 2, ["landing", "night"])
    assert result.prompt == "an owl landing on a snowy branch at night"
    assert "dropped what was asked for: landing, night" in result.warning


def test_a_phrase_borrowed_from_the_examples_is_rejected():
    leaking = '{"prompt": "A vintage tram climbing a steep street in the rain, white smoke trailing, wide aerial shot"}'
    clean = '{"prompt": "A vintage tram climbing a steep street in the rain, wet cobbles shining, grey sky"}'
    result = enhance(
        PromptEnhancerAgent("a1", replay(leaking, clean)), "a vintage tram climbing a steep street in the rain"
    )
    assert (result.source, result.attempts) == ("llm", 2)
    assert "white smoke" in result.borrowed and "wide aerial" in result.borrowed
    assert "smoke" not in result.prompt


def test_a_good_answer_is_used():
    agent = PromptEnhancerAgent("a1", replay('{"prompt": "A corgi on a sunny beach, golden light, low angle"}'))
    result = enhance(agent, "a corgi on a sunny beach")
    assert (result.source, result.prompt, result.warning) == (
        "llm",
        "A corgi on a sunny beach, golden light, low angle",
        None,
    )


def test_edit_fallback_appends_the_instruction():
    agent = PromptEnhancerAgent("a1", replay('{"prompt": "a corgi on a beach"}', '{"prompt": "a corgi on a beach"}'))
    result = enhance(agent, "a corgi on a beach", instruction="warmer light")
    assert result.source == "fallback"
    assert result.prompt == "a corgi on a beach, warmer light"


@pytest.mark.parametrize(
    ("content", "prompt"),
    [
        ('{"prompt": "a cat"}', "a cat"),
        ('```json\n{"prompt": "a cat"}\n```', "a cat"),
        ('{"description": "a cat"}', "a cat"),
        ('"a cat"', "a cat"),
        ("a cat on a mat", "a cat on a mat"),
        ("[1, 2]", ""),
    ],
)
def test_parse_prompt_answer(content, prompt):
    assert parse_prompt_answer(content) == prompt


def test_text_that_is_not_the_json_asked_for_is_rejected():
    """Gemma 3 revising a prompt answered with a broken JSON and a paragraph of other languages; read as plain text it
    kept the instruction's words and passed."""
    rambling = (
        '{ "prompt": "A busy street market, as a watercolor painting\nInstruction: przedmiot model (2) the colors'
    )
    assert parse_prompt_answer(rambling, json_only=True) is None
    agent = PromptEnhancerAgent("a1", replay(rambling, rambling))
    result = enhance(
        agent, "A busy street market in Marrakech, colourful spices", instruction="as a watercolor painting"
    )
    assert result.source == "fallback" and "not the JSON asked for" in result.warning


def test_with_a_grammar_what_the_model_added_is_judged_on_its_own():
    """In prefix mode the person's words always read as prose; a detail of timestamps must not pass on their back."""
    request_text = "an old fisherman mending nets at dawn"
    answer = '{"prompt": "an old fisherman mending nets at dawn, 2016-09-30T14:58:07Z"}'
    assert check_prompt(request_text + ", 2016-09-30T14:58:07Z") is None  # as a whole it reads as prose
    agent = PromptEnhancerAgent("a1", replay(answer), prefix_args=lambda prefix: {})
    result = enhance(agent, request_text)
    assert (result.source, result.prompt, result.attempts) == ("fallback", request_text, 1)
    assert "what it added is not a prompt (not prose" in result.warning


@pytest.mark.parametrize(
    ("request_text", "answer", "lost"),
    [
        ("an owl landing on a snowy branch at night", "A snowy owl lands on a branch of a snowy pine at night", []),
        ("leaves rustling in the wind", "a leaf rustles as the wind blows", []),
        ("two kids flying a yellow kite", "A pair of children flying a yellow kite", ["two", "kids"]),
        ("a neon-lit street", "a neon street at night", ["lit"]),
        ("THE Cat", "a cat", []),
    ],
)
def test_lost_words_match_lemmas_not_synonyms(request_text, answer, lost):
    assert lost_words(request_text, answer) == lost


def test_function_words_are_not_asked_for_and_counts_are():
    assert asked_words("two owls on a branch at night with the moon") == ["two", "owls", "branch", "night", "moon"]


def test_borrowed_phrases_come_from_the_examples_only_when_the_request_lacks_them():
    answer = "a train in the mountains, white smoke trailing"
    assert borrowed_phrases(answer, "a kettle boiling", EXAMPLES) == ["smoke trailing", "white smoke"]
    assert borrowed_phrases(answer, "white smoke trailing from a kettle", EXAMPLES) == []
    assert borrowed_phrases(answer, "a kettle boiling", ()) == []


@pytest.mark.slow
def test_the_training_command_writes_an_adapter_llama_cpp_applies(tmp_path):
    """One step on four examples: the GGUF base loads in transformers, peft trains, the adapter file is written in
    llama.cpp's format and the embedded model answers with it (a useful adapter takes the whole data, 40 min)."""
    out = tmp_path / "adapter.gguf"
    figures = train(out, epochs=2, limit=4, batch_size=4)
    assert out.is_file() and figures["steps"] == 2
    import gguf

    tensors = {tensor.name: tensor for tensor in gguf.GGUFReader(out).tensors}
    assert len(tensors) == 2 * 5 * 30  # lora_a and lora_b of five projections in each of SmolLM2's 30 layers
    # peft starts every lora_b at zero: trained ones are not.
    assert any(abs(t.data).max() > 0 for name, t in tensors.items() if name.endswith(".lora_b"))
    from llama_cpp import Llama

    llm = Llama(model_path=str(embedded_model_path("smollm2")), lora_path=str(out), n_ctx=256, verbose=False)
    answer = llm.create_chat_completion(
        [{"role": "user", "content": "Request: a fox"}], max_tokens=24, temperature=0.0, **prefix_grammar("a fox")
    )
    assert answer["choices"][0]["message"]["content"].startswith('{"prompt": "a fox, ')
    assert not (tmp_path / ".adapter.gguf.partial").exists()
