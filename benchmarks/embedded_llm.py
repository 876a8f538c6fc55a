"""The embedded LLMs as A1 (72 blind requests, 24 blind edits) and as the director's plan filler (30 requests).

    python benchmarks/embedded_llm.py [--models smollm2,gemma3] [--limit N] [--json OUT.json] [--smoke]

For each embedded model (``mora_agents.llm.EMBEDDED_MODELS``), A1 set up as the studio sets it up (SmolLM2 with its
trained adapter and the grammar that keeps the person's words; Gemma 3 with the worked examples and the grammar):

- A1 on ``data/a1_blind_prompts.jsonl``, judged by the writer's annotations of what each request asked for (not by
  A1's own check): *faithful*, every asked item still there (a fallback to the person's words counts as faithful);
  *enhanced*, the LLM's own answer with at least four words added; *leaked*, sharing a pair of long words with a
  worked example that the request lacks; *fell back*; seconds per answer (retries included);
- A1 on ``data/a1_blind_edits.jsonl``: a revision is faithful when it has every asked item and none of what the
  instruction replaces;
- routing: the task accuracy when that model fills the director's plan (``--director llm``, through the per-turn
  JSON schema, no fallback), and the share of turns it answered validly at the first try; beside them, the trained
  model's accuracy (``--director learned``, the embedded default) on the same requests.

The failures are listed in the JSON (``a1_failures``, ``a1_edit_failures``). Nothing here asserts: it prints a table
and the figures as JSON (the last stdout line, and ``--json``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
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


DATA = Path(__file__).resolve().parent / "data"
A1_PROMPTS_FILE = DATA / "a1_blind_prompts.jsonl"
"""72 requests written blind (the writer saw what a user sees, not A1's examples or code), each with what it asked
for (``asked``: per item, the forms a faithful prompt may use)."""
A1_EDITS_FILE = DATA / "a1_blind_edits.jsonl"
"""24 review edits written blind: a prompt, an instruction, what the revision must contain (``asked``) and what the
instruction replaces (``changed``: must be gone)."""


def load_cases(path: Path, limit: int | None = None) -> list[dict]:
    """The JSON lines of ``path`` (the first ``limit``)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()][:limit]


def mentions(text: str, forms: list[str]) -> bool:
    """Whether ``text`` contains one of ``forms`` as whole words (case-insensitive)."""
    return any(re.search(rf"(?<![\w-]){re.escape(form.lower())}(?![\w-])", text.lower()) for form in forms)


def lost_items(text: str, asked: list[list[str]]) -> list[str]:
    """The asked items (by their first form) that ``text`` no longer mentions."""
    return [forms[0] for forms in asked if not mentions(text, forms)]


def borrowed_phrases(answer: str, request: str, examples: tuple[tuple[str, str], ...]) -> list[str]:
    """Word pairs of the worked examples' answers (both words of four letters or more) that ``answer`` repeats and
    ``request`` does not have: what a small model copies from its examples ("white smoke trailing")."""

    def pairs(text: str) -> set[str]:
        words = re.findall(r"[a-z]+", text.lower())
        return {f"{a} {b}" for a, b in zip(words, words[1:], strict=False) if len(a) >= 4 and len(b) >= 4}

    shown = set().union(*(pairs(prompt) for _, prompt in examples)) if examples else set()
    return sorted((pairs(answer) & shown) - pairs(request))


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


async def enhance(agent, text: str, instruction: str | None = None):
    from autogen_agentchat.messages import StructuredMessage
    from autogen_core import CancellationToken

    from mora_agents.messages import PromptEnhancementRequest

    request = PromptEnhancementRequest(prompt=text, instruction=instruction)
    message = StructuredMessage[PromptEnhancementRequest](content=request, source="u")
    response = await agent.on_messages([message], CancellationToken())
    return response.chat_message.content


async def route(director, text: str, kind: str | None) -> str:
    """The task the director chose (a question counts as its task too: the task it would ask about)."""
    from mora_agents.messages import DirectorTurn

    answer, _ = await director.direct(DirectorTurn(text=text, artifacts=session(kind)))
    return answer.task


def measure_a1(agent, examples: tuple[tuple[str, str], ...], limit: int | None = None) -> dict:
    """A1 on the blind requests and edits (the first ``limit`` of each), judged by their writer's annotations."""
    prompts, edits = load_cases(A1_PROMPTS_FILE, limit), load_cases(A1_EDITS_FILE, limit)
    faithful = enhanced = leaked = fell_back = 0
    seconds, words, failures = [], [], []
    for case in prompts:
        answer = asyncio.run(enhance(agent, case["prompt"]))
        lost = lost_items(answer.prompt, case["asked"])
        borrowed = borrowed_phrases(answer.prompt, case["prompt"], examples)
        faithful += not lost
        enhanced += answer.source == "llm" and len(answer.prompt.split()) >= len(case["prompt"].split()) + 4
        leaked += bool(borrowed)
        fell_back += answer.source == "fallback"
        seconds.append(answer.seconds)
        words.append(len(answer.prompt.split()))
        if lost or borrowed:
            failures.append({"request": case["prompt"], "prompt": answer.prompt, "lost": lost, "borrowed": borrowed})
    edit_faithful = edit_fell_back = 0
    edit_failures = []
    for case in edits:
        answer = asyncio.run(enhance(agent, case["prompt"], case["instruction"]))
        lost = lost_items(answer.prompt, case["asked"])
        kept = [forms[0] for forms in case["changed"] if mentions(answer.prompt, forms)]
        edit_faithful += not lost and not kept
        edit_fell_back += answer.source == "fallback"
        if lost or kept:
            edit_failures.append(
                {"instruction": case["instruction"], "prompt": answer.prompt, "lost": lost, "kept": kept}
            )
    n, m = len(prompts), max(len(edits), 1)
    return {
        "a1_faithful_share": round(faithful / n, 3),
        "a1_enhanced_share": round(enhanced / n, 3),
        "a1_leaked_share": round(leaked / n, 3),
        "a1_fell_back_share": round(fell_back / n, 3),
        "a1_mean_words": round(sum(words) / n, 1),
        "a1_s_per_answer": round(sum(seconds) / n, 2),
        "a1_edit_faithful_share": round(edit_faithful / m, 3),
        "a1_edit_fell_back_share": round(edit_fell_back / m, 3),
        "a1_failures": failures,
        "a1_edit_failures": edit_failures,
    }


def measure_model(key: str, sops, limit: int | None = None) -> dict:
    """One embedded model as A1 (:func:`measure_a1`) and as the director's plan filler on :data:`REQUESTS` (the
    first ``limit`` of each)."""
    from mora_agents.agents import PromptEnhancerAgent
    from mora_agents.agents._prompt_enhancer import EXAMPLES
    from mora_agents.director import DirectorAgent, LlmResolver
    from mora_agents.llm import create_llm

    started = time.perf_counter()
    backend = create_llm(f"embedded:{key}")
    load_s = time.perf_counter() - started
    a1 = PromptEnhancerAgent.from_backend("a1", backend)
    a1_figures = measure_a1(a1, EXAMPLES, limit)
    resolver = LlmResolver(backend.client, backend.create_args, schema_format="json_schema")
    director = DirectorAgent("director", sops=sops, resolver=resolver)
    right = valid = 0
    requests = REQUESTS[:limit]
    for text, kind, task in requests:
        right += asyncio.run(route(director, text, kind)) == task
        valid += len(resolver.answers) == 1
    n = len(requests)
    return {
        "model": backend.name,
        "load_s": round(load_s, 2),
        **a1_figures,
        "plan_task_accuracy": round(right / n, 3),
        "plan_valid_first_share": round(valid / n, 3),
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
        "raw": {
            "requests": len(REQUESTS[:limit]),
            "a1_prompts": len(load_cases(A1_PROMPTS_FILE, limit)),
            "a1_edits": len(load_cases(A1_EDITS_FILE, limit)),
        },
    }


def report(result: dict) -> None:
    raw = result["raw"]
    print(
        f"A1: {raw['a1_prompts']} blind requests, {raw['a1_edits']} blind edits; routing: {raw['requests']} requests; "
        f"the trained director (the embedded default): {result['learned_accuracy']:.0%}"
    )
    columns = (
        "model",
        "a1_faithful_share",
        "a1_enhanced_share",
        "a1_leaked_share",
        "a1_fell_back_share",
        "a1_s_per_answer",
        "a1_edit_faithful_share",
        "plan_task_accuracy",
        "plan_valid_first_share",
        "load_s",
    )
    rows = [{**m, "model": key} for key, m in result["embedded_llms"].items()]
    print_table("Embedded LLMs as A1 and as the director's plan filler", rows, columns)
    for key, m in result["embedded_llms"].items():
        print(f"{key}: {len(m['a1_failures'])} requests and {len(m['a1_edit_failures'])} edits failed (in the JSON)")


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
