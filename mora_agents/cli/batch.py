"""``mora batch``: many requests, unattended, each into its own run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mora_agents.cli.interruptions import ctrl_c_cancels
from mora_agents.cli.options import (
    DEFAULT_OPTIONS,
    MAX_SEED,
    SopDirOption,
    StudioOptions,
    studio_config,
    studio_options,
)
from mora_agents.console import RichProgress, err, out, user_errors


@user_errors
@studio_options
def batch(
    requests: Annotated[
        Path,
        typer.Argument(
            help="A text file of prompts, one per line (text-to-video), or a YAML list of {task, inputs, seed}; "
            "image and video inputs are paths relative to it."
        ),
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Batch folder: one run folder per request, batch.json.")],
    seed: Annotated[int, typer.Option(help="Seed of the requests that give none.", min=0, max=MAX_SEED)] = 0,
    duration: Annotated[
        float | None, typer.Option(help="Seconds of the requests that give none (default: each task's).", min=0.1)
    ] = None,
    profile: Annotated[
        str, typer.Option(help="Model profile: tiny (random weights, CPU), paper, or a .yaml.")
    ] = "tiny",
    parallel: Annotated[
        int | None,
        typer.Option(
            help="With --engine ray: requests in flight at once (default: all; they queue at each role).", min=1
        ),
    ] = None,
    options: StudioOptions = DEFAULT_OPTIONS,
    sop_dir: SopDirOption = None,
) -> None:
    """Run many requests unattended (review auto); run it again into the same OUT to finish the rest.

    Each request's run goes to OUT/001-<task>/, OUT/002-<task>/ and so on.
    OUT/batch.json says, per request: its status, its run folder, the sha256 of its output and its seconds.
    A second run into the same OUT skips what completed and finishes what did not."""
    import asyncio

    from mora_agents.batch import BATCH_FILE, Batch, prefixed, read_requests
    from mora_agents.studio import ConsoleEvents

    items = read_requests(requests, seed, sop_dir, duration)
    config = studio_config(options, profile=profile, review="auto")
    if options.engine == "ray":
        from mora_agents.cluster import shared_cluster

        err.print(shared_cluster(options.ray_address).summary(), highlight=False)
    with ctrl_c_cancels() as token, RichProgress(err) as progress:
        console = ConsoleEvents(progress)
        job = Batch(items, out_dir, config, sop_dir, parallel, lambda i, event: console(prefixed(i, event)))
        results = asyncio.run(job.run(token))
    for result in results:
        shown = result.output or result.error or ""
        out.print(f"{result.index:3d} [{result.status}] {result.seconds:.1f}s {shown}", highlight=False, markup=False)
    out.print(f"batch: {out_dir / BATCH_FILE}", highlight=False, soft_wrap=True)
    failed = [result for result in results if result.status != "completed"]
    if failed:
        raise typer.Exit(130 if all(r.status == "cancelled" for r in failed) else 1)
