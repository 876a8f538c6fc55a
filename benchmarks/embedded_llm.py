"""The embedded LLMs as A1 (30 varied prompts) and as the director's plan filler (30 varied requests).

    python benchmarks/embedded_llm.py [--models smollm2,gemma3] [--limit N] [--json OUT.json] [--smoke]

For each embedded model (``mora_agents.llm.EMBEDDED_MODELS``):

- A1: the share of prompt-enhancer answers that pass validation (``source == "llm"``: not empty, not a
  runaway, keeps the request's content words), the share that also enhance (at least four words more than
  the request: an echo passes validation but adds nothing), their mean length in words, seconds per answer;
- routing: the task accuracy when that model fills the director's plan (``--director llm``, through the per-turn
  JSON schema, no fallback), and the share of turns it answered validly at the first try; beside them, the trained
  model's accuracy (``--director learned``, the embedded default) on the same requests.

The requests are written for this benchmark, none copied from an SOP's examples or the test routing table.
Nothing here asserts: it prints a table and the figures as JSON (the last stdout line, and ``--json``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from measure import add_smoke_flag, print_table, publish  # noqa: E402

SMOKE = {"models": ("smollm2",), "limit": 2}
"""The smallest run (``--smoke``, ``run.py --smoke``): it checks the benchmark works, its figures mean little."""

T2V, I2V, EXT, EDIT, CONN, DW = (
    "text_to_video image_to_video extend_video edit_video connect_videos digital_world".split()
)
# (request, session: None, "clip", "two clips", "photo"; expected task)
REQUESTS: list[tuple[str, str | None, str]] = [
    ("a kite", None, T2V),
    ("a paper boat drifting down a rain-filled gutter", None, T2V),
    ("two old men playing chess in a park at noon", None, T2V),
    ("slow motion of coffee being poured into a white cup", None, T2V),
    ("a hummingbird hovering over red flowers", None, T2V),
    ("city skyline timelapse from dusk to night", None, T2V),
    ("a jellyfish pulsing in dark blue water", None, T2V),
    ("waves crashing against a lighthouse during a storm", None, T2V),
    ("a lonely astronaut walking on a red desert planet", None, T2V),
    ("make this photo move: leaves rustling in the wind", "photo", I2V),
    ("animate the picture so the clouds drift", "photo", I2V),
    ("bring the still image to life with gentle camera motion", "photo", I2V),
    ("turn my snapshot into a short clip where the water ripples", "photo", I2V),
    ("make the clip two seconds longer", "clip", EXT),
    ("keep going after the end of the video", "clip", EXT),
    ("continue the last video for a few more seconds", "clip", EXT),
    ("add three seconds to the end of it", "clip", EXT),
    ("make the video look like it is snowing", "clip", EDIT),
    ("change the clip so it happens at night", "clip", EDIT),
    ("turn the colours of the video into a sepia film look", "clip", EDIT),
    ("repaint that clip as a watercolour", "clip", EDIT),
    ("join the two clips with a smooth transition", "two clips", CONN),
    ("stitch the first video to the second", "two clips", CONN),
    ("blend the first clip into the second one", "two clips", CONN),
    ("make a transition from clip 1 to clip 2", "two clips", CONN),
    ("a minecraft style village with blocky trees", None, DW),
    ("a video game level of a neon racing track", None, DW),
    ("a virtual world of floating islands like in a simulation", None, DW),
    ("a low poly game scene of a knight in a castle", None, DW),
    ("a forest rendered like an open world video game", None, DW),
]


# What A1 receives: the scene words of a request (an SOP hands A1 its ``prompt`` input), from one word to a long line.
A1_PROMPTS: list[str] = [
    "a kite",
    "fireworks",
    "a paper boat drifting down a rain-filled gutter",
    "two old men playing chess in a park at noon",
    "slow motion of coffee being poured into a white cup",
    "a hummingbird hovering over red flowers",
    "city skyline timelapse from dusk to night",
    "a jellyfish pulsing in dark blue water",
    "waves crashing against a lighthouse during a storm",
    "a lonely astronaut walking on a red desert planet",
    "leaves rustling in the wind on an oak tree",
    "clouds drifting over a wheat field",
    "a cat sleeping on a sunny windowsill",
    "a sailboat on a calm lake at sunrise",
    "a busy night market with lanterns and steam rising from food stalls",
    "an owl turning its head in a moonlit forest",
    "a child blowing soap bubbles in a garden",
    "snow falling on a quiet mountain village",
    "a vintage car driving along a coastal road",
    "a watercolour painting of a harbour",
    "a close-up of raindrops on a spider web",
    "a chef tossing vegetables in a flaming wok",
    "a herd of elephants crossing a dusty savanna",
    "a neon-lit street in the rain, cyberpunk style",
    "a minecraft style village with blocky trees",
    "a low poly knight standing in a castle courtyard",
    "a ballerina spinning on an empty stage under a spotlight",
    "hot air balloons rising over a canyon",
    "a fox",
    "an old lighthouse keeper lighting a lamp at dusk, cinematic, 35mm film",
]


def session(kind: str | None):
    from mora_agents.messages import SessionArtifact

    def video(index: int, prompt: str) -> SessionArtifact:
        return SessionArtifact(
            index=index, kind="video", path=f"/s/clip{index}.mp4", turn=index, task=T2V, prompt=prompt
        )

    if kind == "clip":
        return [video(1, "a sailboat on a calm lake")]
    if kind == "two clips":
        return [video(1, "a sailboat on a calm lake"), video(2, "a harbour at sunset")]
    if kind == "photo":
        return [SessionArtifact(index=1, kind="image", path="/s/photo.png", turn=1, task="input")]
    return []


async def enhance(agent, text: str):
    from autogen_agentchat.messages import StructuredMessage
    from autogen_core import CancellationToken

    from mora_agents.messages import PromptEnhancementRequest

    message = StructuredMessage[PromptEnhancementRequest](content=PromptEnhancementRequest(prompt=text), source="u")
    response = await agent.on_messages([message], CancellationToken())
    return response.chat_message.content


async def route(director, text: str, kind: str | None) -> str:
    """The task the director chose (a question counts as its task too: the task it would ask about)."""
    from mora_agents.messages import DirectorTurn

    answer, _ = await director.direct(DirectorTurn(text=text, artifacts=session(kind)))
    return answer.task


def measure_model(key: str, sops, limit: int | None = None) -> dict:
    """One embedded model as A1 on :data:`A1_PROMPTS` and as the director's plan filler on :data:`REQUESTS` (the
    first ``limit`` of each)."""
    from mora_agents.agents import PromptEnhancerAgent
    from mora_agents.director import DirectorAgent, LlmResolver
    from mora_agents.llm import create_llm

    started = time.perf_counter()
    backend = create_llm(f"embedded:{key}")
    load_s = time.perf_counter() - started
    a1 = PromptEnhancerAgent("a1", backend.client, model_name=backend.name, create_args=backend.create_args)
    passed, enhanced, words, seconds, examples = 0, 0, [], [], []
    prompts, requests = A1_PROMPTS[:limit], REQUESTS[:limit]
    for text in prompts:
        answer = asyncio.run(enhance(a1, text))
        passed += answer.source == "llm"
        enhanced += answer.source == "llm" and len(answer.prompt.split()) >= len(text.split()) + 4
        words.append(len(answer.prompt.split()))
        seconds.append(answer.seconds)
        if len(examples) < 4:
            examples.append({"request": text, "source": answer.source, "prompt": answer.prompt, "why": answer.warning})
    resolver = LlmResolver(backend.client, backend.create_args, schema_format="json_schema")
    director = DirectorAgent("director", sops=sops, resolver=resolver)
    right = valid = 0
    for text, kind, task in requests:
        right += asyncio.run(route(director, text, kind)) == task
        valid += len(resolver.answers) == 1
    n, m = len(requests), len(prompts)
    return {
        "model": backend.name,
        "load_s": round(load_s, 2),
        "a1_valid_share": round(passed / m, 3),
        "a1_enhanced_share": round(enhanced / m, 3),
        "a1_mean_words": round(sum(words) / m, 1),
        "a1_s_per_answer": round(sum(seconds) / m, 2),
        "plan_task_accuracy": round(right / n, 3),
        "plan_valid_first_share": round(valid / n, 3),
        "a1_examples": examples,
    }


def learned_only(sops, limit: int | None = None) -> float:
    """The trained model's task accuracy on the first ``limit`` requests."""
    from mora_agents.director import DirectorAgent

    director = DirectorAgent("director", sops=sops)
    requests = REQUESTS[:limit]
    return round(sum(asyncio.run(route(director, t, k)) == task for t, k, task in requests) / len(requests), 3)


def measure(models: tuple[str, ...] = ("smollm2", "gemma3"), limit: int | None = None) -> dict:
    """Every model of ``models`` as A1 and as the director's plan filler, and the trained model alone, on the first
    ``limit`` prompts and requests (default: all); returns ``{"learned_accuracy": ..., "embedded_llms": {model:
    {...}}, "raw": {...}}``."""
    from mora_agents.sop import SopSpec, list_sops

    sops = {name: SopSpec.from_file(entry.path) for name, entry in list_sops().items()}
    accuracy = learned_only(sops, limit)
    figures = {key: measure_model(key, sops, limit) for key in models}
    return {
        "learned_accuracy": accuracy,
        "embedded_llms": figures,
        "raw": {"requests": len(REQUESTS[:limit]), "a1_prompts": len(A1_PROMPTS[:limit])},
    }


def report(result: dict) -> None:
    raw = result["raw"]
    print(
        f"A1: {raw['a1_prompts']} prompts; routing: {raw['requests']} requests; "
        f"the trained director (the embedded default): {result['learned_accuracy']:.0%}"
    )
    columns = (
        "model",
        "a1_valid_share",
        "a1_enhanced_share",
        "a1_mean_words",
        "a1_s_per_answer",
        "plan_task_accuracy",
        "plan_valid_first_share",
        "load_s",
    )
    rows = [{**m, "model": key} for key, m in result["embedded_llms"].items()]
    print_table("Embedded LLMs as A1 and as the director's plan filler", rows, columns)
    for key, m in result["embedded_llms"].items():
        for example in m["a1_examples"]:
            print(f"{key}: {example['request']!r} -> [{example['source']}] {example['prompt']!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="smollm2,gemma3", help="Comma-separated embedded model keys.")
    parser.add_argument("--limit", type=int, help="Only the first N A1 prompts and routing requests.")
    parser.add_argument("--json", type=Path, help="Where to write the figures.")
    add_smoke_flag(parser, SMOKE)
    args = parser.parse_args()
    if args.smoke:
        result = measure(**SMOKE)
    else:
        result = measure(tuple(key.strip() for key in args.models.split(",")), args.limit)
    publish(result, report, args.json)


if __name__ == "__main__":
    main()
