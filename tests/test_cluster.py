"""Engine ray on a real local cluster (`ray.init(num_cpus=2)`, once for the session): `mora batch` under both
engines, a session script, a killed actor, pipelining, and `mora serve --engine ray` answering the Videos API.

The commands run in this process (as the test process is the cluster's driver, its actors stay warm between tests);
the server runs as a child that joins the cluster by address."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import openai
import pytest
import ray

from mora_agents.batch import Batch, read_requests
from mora_agents.cluster import shared_cluster
from mora_agents.messages import ArtifactReady, StepProgress
from mora_agents.studio import StudioConfig
from mora_tools.loading.models import cpu_numerics
from tests.cli_in_process import mora_here
from tests.live_server import Server

PROMPTS = ["a red kite over a green hill", "a lighthouse at night", "a paper boat in the rain", "a balloon at dawn"]


@pytest.fixture(scope="session")
def ray_address(mora_cache) -> str:
    """One local cluster for the session, on loopback; CLI children join it with --ray-address."""
    context = ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    yield context.address_info["gcs_address"]
    ray.shutdown()


def mora(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`mora ARGS` in this process: a ray run joins the session's cluster and reuses its warm actors."""
    return mora_here(*args, cwd=cwd)


def batch_record(folder: Path) -> dict:
    return json.loads((folder / "batch.json").read_text())


def test_mora_batch_gives_the_same_files_under_local_and_ray(ray_address, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# four requests\n" + "\n".join(PROMPTS) + "\n\n")
    local = mora("batch", str(prompts), "--out", "local", "--seed", "5", "--duration", "1", cwd=tmp_path)
    assert local.returncode == 0, local.stderr[-2000:]
    remote = mora("batch", str(prompts), "--out", "ray", "--seed", "5", "--duration", "1", "--engine", "ray",
                  "--ray-address", ray_address, cwd=tmp_path)  # fmt: skip
    assert remote.returncode == 0, remote.stderr[-2000:]
    records = {name: batch_record(tmp_path / name) for name in ("local", "ray")}
    assert records["ray"]["engine"] == "ray" and records["local"]["engine"] == "local"
    for name, record in records.items():
        results = record["results"]
        assert [r["index"] for r in results] == [1, 2, 3, 4] and {r["status"] for r in results} == {"completed"}
        for result in results:
            assert result["run"] == f"{result['index']:03d}-text_to_video" and result["seconds"] > 0
            manifest = json.loads((tmp_path / name / result["run"] / "manifest.json").read_text())
            assert manifest["engine"] == name and manifest["request"]["seed"] == 5
            assert manifest["request"]["inputs"]["duration"] == 1
            assert (tmp_path / name / result["output"]).stat().st_size > 0
    shas = {name: [r["sha256"] for r in record["results"]] for name, record in records.items()}
    assert shas["local"] == shas["ray"], numerics()
    assert len(set(shas["local"])) == 4  # four prompts, four different videos


def test_bad_batch_files_get_one_sentence(tmp_path):
    (tmp_path / "empty.txt").write_text("# nothing here\n\n")
    (tmp_path / "bad.yaml").write_text("- task: text_to_video\n  inputs: {prompt: a kite}\n  colour: red\n")
    (tmp_path / "away.yaml").write_text("- task: image_to_video\n  inputs: {image: ../photo.png, prompt: go}\n")
    (tmp_path / "task.yaml").write_text("- task: paint_a_mural\n")
    cases = {
        "missing.txt": "cannot read batch file",
        "empty.txt": "holds no requests",
        "bad.yaml": "request 1: colour: Extra inputs are not permitted",
        "away.yaml": "outside the batch file's folder",
        "task.yaml": "unknown task 'paint_a_mural'",
    }
    for name, sentence in cases.items():
        result = mora("batch", name, "--out", "out", cwd=tmp_path)
        assert result.returncode == 2, (name, result.stderr)
        assert sentence in result.stderr and "Traceback" not in result.stderr, (name, result.stderr)
    assert not (tmp_path / "out").exists()
    unknown = mora("generate", "text-to-video", "--prompt", "a kite", "--engine", "spark", cwd=tmp_path)
    assert unknown.returncode == 2 and "unknown engine 'spark': choose one of local, ray" in unknown.stderr


def test_a_session_script_runs_on_ray(ray_address, tmp_path):
    script = Path(__file__).parents[1] / "examples" / "sessions" / "ask_first.yaml"
    result = mora("run", str(script), "--out", "session", "--engine", "ray", "--ray-address", ray_address,
                  cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads((tmp_path / "session" / "session.json").read_text())
    turns = record["turns"]
    assert [t["status"] for t in turns] == ["asked", "completed", "completed"], turns
    for turn in turns[1:]:
        manifest = json.loads((tmp_path / "session" / turn["run_dir"] / "manifest.json").read_text())
        assert manifest["engine"] == "ray" and manifest["status"] == "completed"


SECONDS = 3
"""Each in-process request's length: 3 chained segments, a stage long enough to die in."""


@pytest.fixture(scope="module")
def two_requests(tmp_path_factory):
    folder = tmp_path_factory.mktemp("requests")
    (folder / "prompts.txt").write_text("\n".join(PROMPTS[:2]))
    return read_requests(folder / "prompts.txt", seed=2, duration=SECONDS)


@pytest.fixture(scope="module")
def local_batch(two_requests, tmp_path_factory):
    """The two requests on the local engine: the files both ray tests must make too."""
    out = tmp_path_factory.mktemp("local")
    return out, run_batch(two_requests, out, "local")


def numerics() -> str:
    """Where bytes differ: torch's threads and kernels in this process and in each actor."""
    actors = {role: ray.get(handle.describe.remote())["cpu_numerics"] for role, handle in shared_cluster().actors()}
    return f"torch here: {cpu_numerics()}; in the actors: {actors}"


def run_batch(requests, out: Path, engine: str, on_event=None) -> list:
    batch = Batch(requests, out, StudioConfig(profile="tiny", engine=engine, memory="keep"), on_event=on_event)
    return asyncio.run(batch.run())


def test_a_batch_run_again_keeps_what_completed(two_requests, local_batch):
    out, results = local_batch
    kept = [out / r.run / "manifest.json" for r in results] + [out / r.output for r in results]
    made = [path.stat().st_mtime_ns for path in kept]
    again = run_batch(two_requests, out, "local")
    assert [r.sha256 for r in again] == [r.sha256 for r in results] and all(r.status == "completed" for r in again)
    assert [path.stat().st_mtime_ns for path in kept] == made  # nothing was run or written again


def test_a_killed_actor_is_restarted_and_its_stage_rerun_with_the_same_files(ray_address, two_requests, local_batch,
                                                                               tmp_path):  # fmt: skip
    killed: dict = {}

    def kill_the_animator(index: int, event) -> None:
        if isinstance(event, ArtifactReady) and event.stage == "animate" and not killed:
            pytest.fail("the animate stage finished before the kill: the test did not test a death mid-stage")
        if isinstance(event, StepProgress) and event.task == "animate" and event.step >= 1 and not killed:
            actor = next(handle for role, handle in shared_cluster().actors() if role == "image_to_video")
            killed["pid"] = ray.get(actor.pid.remote())
            os.kill(killed["pid"], signal.SIGKILL)
            killed["request"] = index

    results = run_batch(two_requests, tmp_path / "ray", "ray", on_event=kill_the_animator)
    assert killed, "the animate stage never reported a step"
    assert [r.status for r in results] == ["completed"] * 2, [r.error for r in results]
    assert [r.sha256 for r in results] == [r.sha256 for r in local_batch[1]], numerics()
    actor = next(handle for role, handle in shared_cluster().actors() if role == "image_to_video")
    assert ray.get(actor.pid.remote()) != killed["pid"]  # a new process took the stage over
    # The re-run wrote over its own partial file: no leftovers, one video per animate iteration.
    stages = tmp_path / "ray" / f"{killed['request']:03d}-text_to_video" / "stages"
    assert sorted(p.name for p in stages.iterdir() if p.suffix == ".mp4") == ["animate.mp4"]
    assert not [p for p in stages.iterdir() if ".partial" in p.name]


def test_requests_pipeline_through_the_roles_actors(ray_address, two_requests, local_batch, tmp_path):
    spans: dict[tuple[int, str], list[float]] = {}

    def record(index: int, event) -> None:
        # The pipelines' own progress: when the actor really started and ended the work (not when it was queued).
        if isinstance(event, StepProgress):
            span = spans.setdefault((index, event.task), [time.monotonic(), float("inf")])
            if event.done:
                span[1] = time.monotonic()

    results = run_batch(two_requests, tmp_path / "ray", "ray", on_event=record)
    assert [r.sha256 for r in results] == [r.sha256 for r in local_batch[1]], numerics()
    # While A4 animates request 1, request 2 is at A1 or A2: request 2 starts before request 1 is done (run
    # sequentially it would start after). Not an overlap of the two spans: a cold A4 loads SVD before its first
    # step, and request 2's short stages may be over by then.
    end, later = spans[(1, "animate")][1], [spans[(2, stage)][0] for stage in ("enhance", "first_frame")]
    assert min(later) < end, spans


def test_mora_serve_on_ray_answers_the_videos_api(ray_address, tmp_path):
    server = Server(tmp_path / "ws", "--engine", "ray", "--ray-address", ray_address, "--no-web").start()
    try:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
        video = client.videos.create_and_poll(prompt="a red kite over a green hill", seconds="1", poll_interval_ms=300)
        assert video.status == "completed", video.error
        assert client.videos.download_content(video.id).read()[4:8] == b"ftyp"
        manifest = json.loads((tmp_path / "ws" / "runs" / video.id / "manifest.json").read_text())
        assert manifest["engine"] == "ray" and manifest["memory_policy"] == "keep"
    finally:
        server.stop()
