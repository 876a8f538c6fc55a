"""The web studio page (Gradio Blocks): chat with the director, review each stage as a card, run any task from a
form built from its SOP, follow progress, cancel. Every handler acts through the server's queue and job store, and
the page redraws from them once a second, so a closed tab loses nothing and a reopened one shows where things are.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import gradio as gr

from mora_agents.errors import MoraError
from mora_agents.messages import ReviewDecision
from mora_agents.serve import sessions
from mora_agents.serve.queue import UPLOADS_DIR, JobQueue, save_upload
from mora_agents.serve.store import FINISHED
from mora_agents.web._shown import shown_file, shown_files
from mora_agents.web._snapshot import JobSnapshot, conversation_messages, job_snapshot
from mora_tools.profiles import available_profiles

REVIEW_MODES = {"a person (you)": "human", "the judge panel (ties come to you)": "judge", "nobody (accept all)": "auto"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
CSS = """
.mora-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px; }
#mora-result img { height: 300px; width: auto; image-rendering: pixelated; }
#mora-earlier img { image-rendering: pixelated; }
@media (max-width: 640px) { .mora-side { min-width: 100% !important; } #mora-result img { height: 200px; } }
"""


def build_page(queue: JobQueue) -> gr.Blocks:
    """The studio's page for ``queue``'s server."""
    modes = [m for m, review in REVIEW_MODES.items() if review != "judge" or queue.config.judges]
    with gr.Blocks(title="mora studio", fill_width=True) as page:
        session = gr.State(None)
        job = gr.State(None)
        shown = gr.State({"job": "", "chat": "", "latest": None})
        viewing = gr.State(None)
        gr.Markdown("# mora studio\nDescribe a video, review each stage, then ask for changes: "
                    "*make it longer*, *connect the first and the second clip*.")  # fmt: skip
        with gr.Tabs():
            with gr.Tab("Chat"):
                with gr.Row():
                    with gr.Column(scale=1, min_width=260, elem_classes="mora-side"):
                        picker = gr.Dropdown(label="Session", choices=[], interactive=True)
                        new = gr.Button("New session")
                        undo = gr.Button("Undo last result")
                        review = gr.Radio(modes, value=modes[0], label="Review by")
                        seed = gr.Number(label="Seed", value=0, precision=0, minimum=0)
                        profile = gr.Dropdown(available_profiles(), value=queue.config.profile, label="Profile",
                                              info="the models of this session's next turns")  # fmt: skip
                    with gr.Column(scale=3):
                        chat = gr.Chatbot(label="Conversation", height=460, buttons=[])
                        message = gr.Textbox(label="Message", placeholder="a red kite over a green hill, 2 seconds",
                                             lines=1, max_lines=4)  # fmt: skip
                        with gr.Row():
                            upload = gr.UploadButton("Give an image or a video", file_types=["image", "video"])
                            remake = gr.Button("Make the next stale result again", visible=False)
            with gr.Tab("Tasks"):
                task = gr.Dropdown(label="Task", choices=sorted(queue.sop_names()), value=None, interactive=True)
                _task_form(queue, task, job)
        with gr.Group(elem_classes="mora-card"):
            with gr.Row(equal_height=True):
                status = gr.Markdown("Nothing running.")
                cancel = gr.Button("Cancel", variant="stop", size="sm", visible=False, scale=0, min_width=100)
            with gr.Row():
                job_pick = gr.Dropdown(label="Turn", choices=[], visible=False, interactive=True, scale=2)
                stage_pick = gr.Radio(label="Stage", choices=[], visible=False, scale=2)
            title = gr.Markdown()
            image = gr.Image(label="Result", visible=False, interactive=False, type="filepath", height=320,
                             alt_text="the result to review", elem_id="mora-result")  # fmt: skip
            video = gr.Video(label="Result", visible=False, interactive=False, height=320)
            earlier = gr.Gallery(label="Earlier iterations", visible=False, columns=6, height=150, preview=False,
                                 object_fit="contain", elem_id="mora-earlier")  # fmt: skip
            with gr.Row():
                accept = gr.Button("Accept", variant="primary", visible=False)
                regenerate = gr.Button("Regenerate", visible=False)
                edit = gr.Button("Edit", visible=False)
            with gr.Row(visible=False) as edit_row:
                instruction = gr.Textbox(label="Instruction", placeholder="make it snowy", scale=4)
                send = gr.Button("Send", scale=1)
            downloads = gr.File(label="Downloads", file_count="multiple", visible=False, interactive=False)

        card = [status, cancel, stage_pick, title, image, video, earlier, accept, regenerate, edit, downloads]

        async def opened():
            listed = sessions.list_sessions(queue)
            chosen = listed[0]["id"] if listed else None
            latest = _latest_job(queue, chosen)
            return _choices(listed, chosen), chosen, latest, {"job": "", "chat": "", "latest": latest}

        page.load(opened, outputs=[picker, session, job, shown])

        async def tick(session_id, job_id, seen, stage):
            chat_update, chat_key = _chat(queue, session_id, seen["chat"])
            latest = _latest_job(queue, session_id)
            shown_job = gr.skip()  # a tick never writes back the job it was given: a Run meanwhile would be lost
            if latest is not None and latest != seen.get("latest"):
                job_id = shown_job = latest  # a new turn's job (from this tab or another): show it
            updates, job_key = _card(queue, job_id, seen["job"], stage)
            if chat_key != seen["chat"] or latest != seen.get("latest") or job_id != seen.get("job_id"):
                stale = gr.update(visible=_next_stale(queue, session_id) is not None)
                turns = _turn_choices(queue, session_id, job_id)
            else:
                stale = turns = gr.skip()
            seen = {"job": job_key, "chat": chat_key, "latest": latest, "job_id": job_id}
            return [chat_update, shown_job, seen, stale, turns, *updates]

        gr.Timer(1.0).tick(tick, inputs=[session, job, shown, viewing],
                           outputs=[chat, job, shown, remake, job_pick, *card])  # fmt: skip
        job_pick.input(lambda picked: (picked, None), inputs=[job_pick], outputs=[job, viewing])
        stage_pick.input(lambda stage: stage, inputs=[stage_pick], outputs=[viewing])

        async def again(session_id, mode):
            found = _next_stale(queue, session_id)
            if found is None:
                raise gr.Error("no result of this session is stale")
            try:
                return queue.rerun(found.id, None, REVIEW_MODES[mode]).id
            except MoraError as error:
                raise gr.Error(str(error)) from None

        remake.click(again, inputs=[session, review], outputs=[job])

        async def say(text, session_id, mode, base_seed, models):
            text = (text or "").strip()
            if not text:
                return gr.skip(), session_id, gr.skip(), gr.skip()
            try:
                session_id = session_id or sessions.create_session(queue, "web")
                taken = await sessions.take_turn(queue, session_id, text, REVIEW_MODES[mode], int(base_seed or 0),
                                                 models or None)  # fmt: skip
            except MoraError as error:
                raise gr.Error(str(error)) from None
            listed = sessions.list_sessions(queue)
            return "", session_id, taken.job.id if taken.job else gr.skip(), _choices(listed, session_id)

        message.submit(say, inputs=[message, session, review, seed, profile], outputs=[message, session, job, picker])

        async def give(file, session_id):
            if file is None:
                return session_id, gr.skip()
            path = Path(file if isinstance(file, str) else file.name)
            kind = "image" if path.suffix.lower() in IMAGE_SUFFIXES else "video"
            try:
                session_id = session_id or sessions.create_session(queue, "web")
                data = path.read_bytes()
                await sessions.add_upload(queue, session_id, data, kind, path.name, path.stem.replace("_", " "))
            except MoraError as error:
                raise gr.Error(str(error)) from None
            return session_id, _choices(sessions.list_sessions(queue), session_id)

        upload.upload(give, inputs=[upload, session], outputs=[session, picker])

        async def start_new():
            session_id = sessions.create_session(queue, "web")
            return session_id, None, _choices(sessions.list_sessions(queue), session_id)

        new.click(start_new, outputs=[session, job, picker])

        async def pick(session_id):
            return session_id, _latest_job(queue, session_id)

        picker.input(pick, inputs=[picker], outputs=[session, job])

        async def take_back(session_id):
            if not session_id:
                raise gr.Error("no session is open: there is nothing to undo")
            turn = queue.conversation(session_id).session.undo()
            if turn is None:
                raise gr.Error("this session has no finished result to undo")
            gr.Info(f"turn {turn.index} undone: its result is no longer part of the session")

        undo.click(take_back, inputs=[session])

        def decider(action: str):
            async def decide(job_id, text=None):
                try:
                    queue.decide(job_id, ReviewDecision(action=action, instruction=text or None, by="web"))
                except (MoraError, ValueError) as error:
                    raise gr.Error(str(error).splitlines()[-1]) from None
                return gr.update(visible=False), ""

            return decide

        accept.click(decider("accept"), inputs=[job], outputs=[edit_row, instruction])

        async def regenerate_stage(job_id, stage, mode):
            snapshot = job_snapshot(queue, job_id, stage)
            if snapshot.card is not None and not snapshot.card.waiting and snapshot.finished:
                # A finished stage made again: what was made from it is marked stale, then made again on request.
                try:
                    queue.rerun(job_id, snapshot.card.stage, REVIEW_MODES[mode])
                except MoraError as error:
                    raise gr.Error(str(error)) from None
                return gr.update(visible=False), "", None
            update, text = await decider("regenerate")(job_id)
            return update, text, stage

        regenerate.click(regenerate_stage, inputs=[job, viewing, review], outputs=[edit_row, instruction, viewing])
        edit.click(lambda: gr.update(visible=True), outputs=[edit_row])
        send.click(decider("edit"), inputs=[job, instruction], outputs=[edit_row, instruction])
        instruction.submit(decider("edit"), inputs=[job, instruction], outputs=[edit_row, instruction])

        async def stop(job_id):
            try:
                queue.cancel(job_id)
            except MoraError as error:
                raise gr.Error(str(error)) from None

        cancel.click(stop, inputs=[job])
    return page


def _task_form(queue: JobQueue, task: gr.Dropdown, job: gr.State) -> None:
    """A form per task, built from its SOP's typed inputs: a new SOP file gets its form with no code."""

    @gr.render(inputs=[task])
    def form(name):
        if not name:
            gr.Markdown("Pick a task to see its inputs.")
            return
        spec = queue.spec(name)
        gr.Markdown(f"**{spec.name}**: {spec.description}")
        fields = {}
        for input_name, item in spec.inputs.items():
            label = f"{input_name}{' (required)' if item.required else ''}"
            info = item.description or None
            if item.type in ("image", "video"):
                widget = gr.Image if item.type == "image" else gr.Video
                fields[input_name] = widget(label=label, sources=["upload"], interactive=True,
                                            **({"type": "filepath"} if item.type == "image" else {}))  # fmt: skip
            elif item.type == "choice":
                fields[input_name] = gr.Dropdown(item.choices, value=item.default, label=label, info=info,
                                                 interactive=True)  # fmt: skip
            elif item.type in ("seconds", "int"):
                fields[input_name] = gr.Number(value=item.default, label=label, info=info, interactive=True,
                                               precision=0 if item.type == "int" else None)  # fmt: skip
            else:
                fields[input_name] = gr.Textbox(value=item.default, label=label, info=info, interactive=True)
        modes = [m for m, review in REVIEW_MODES.items() if review != "judge" or queue.config.judges]
        review = gr.Radio(modes, value=modes[0], label="Review by", interactive=True)
        run = gr.Button("Run", variant="primary")

        async def submit(mode, *values):
            inputs = {}
            try:
                for (input_name, item), value in zip(spec.inputs.items(), values, strict=True):
                    if value in (None, ""):
                        continue
                    if item.type in ("image", "video"):  # checked off the event loop, like every upload
                        value = await asyncio.to_thread(_workspace_copy, queue, Path(value), item.type, input_name)
                    inputs[input_name] = value
                created = queue.submit_task(spec.name, inputs, review=REVIEW_MODES[mode])
            except MoraError as error:
                raise gr.Error(str(error)) from None
            gr.Info(f"{spec.name} queued as {created.id}")
            return created.id

        run.click(submit, inputs=[review, *fields.values()], outputs=[job])


def _workspace_copy(queue: JobQueue, source: Path, kind: str, name: str) -> str:
    """A form's file, copied into the workspace and checked by content like every upload."""
    import secrets

    target = queue.workspace / UPLOADS_DIR / f"web_{secrets.token_hex(8)}" / f"{name}{source.suffix.lower()}"
    return str(save_upload(target, source.read_bytes(), kind, f"input '{name}'"))


def _choices(listed: list[dict], chosen: str | None):
    labels = [(f"{s['name']} · {s['turns']} turns · {s['created'][:16]}", s["id"]) for s in listed]
    return gr.update(choices=labels, value=chosen)


def _latest_job(queue: JobQueue, session_id: str | None) -> str | None:
    if not session_id:
        return None
    jobs = sessions.session_jobs(queue, session_id)
    return jobs[max(jobs)].id if jobs else None


def _finished(queue: JobQueue, job_id: str) -> bool:
    job = queue.store.get(job_id)
    return job is None or job.status in FINISHED


def _chat(queue: JobQueue, session_id: str | None, seen: str):
    if not session_id:
        return gr.skip(), seen
    jobs = sessions.session_jobs(queue, session_id)
    record = queue.conversation(session_id).session.record
    # Everything the messages are made from: a job re-run between two ticks changes no status, but marks results stale.
    key = repr(([(t.index, t.status) for t in record.turns], [(a.index, a.path, a.stale) for a in record.artifacts],
                [(n, j.status) for n, j in sorted(jobs.items())]))  # fmt: skip
    if key == seen:
        return gr.skip(), seen
    return conversation_messages(queue, session_id, jobs), key


def _turn_choices(queue: JobQueue, session_id: str | None, job_id: str | None):
    jobs = sessions.session_jobs(queue, session_id) if session_id else {}
    labels = [(f"turn {n}: {(j.request.explanation or j.sop)[:70]}", j.id) for n, j in sorted(jobs.items())]
    mine = job_id in {j.id for j in jobs.values()}  # a task form's job is no turn of the session
    return gr.update(choices=labels, value=job_id if mine else None, visible=mine and len(labels) > 1)


def _next_stale(queue: JobQueue, session_id: str | None):
    """The job of the session's first stale result (its sources are made again before it), if any."""
    if not session_id:
        return None
    stale = [a for a in queue.conversation(session_id).session.record.artifacts if a.stale]
    jobs = sessions.session_jobs(queue, session_id)
    finished = [jobs[a.turn] for a in stale if a.turn in jobs and jobs[a.turn].status in FINISHED]
    return finished[0] if finished else None


def _card(queue: JobQueue, job_id: str | None, seen: str, viewing: str | None = None):
    if not job_id or queue.store.get(job_id) is None:
        return [gr.update(value="Nothing running."), *[gr.update(visible=False)] * 10], ""
    snapshot = job_snapshot(queue, job_id, viewing)
    key = snapshot.fingerprint()
    if key == seen:
        return [gr.skip()] * 11, seen
    return _card_updates(snapshot), key


def _card_updates(snapshot: JobSnapshot) -> list:
    card, folder = snapshot.card, snapshot.folder
    waiting = bool(card and card.waiting)
    image = shown_file(card.path, folder) if card and card.kind == "image" else None
    video = shown_file(card.path, folder) if card and card.kind == "video" else None
    earlier = shown_files(card.earlier, folder) if card else []
    files = shown_files(snapshot.files, folder)
    pickable = snapshot.finished and len(snapshot.stages) > 1
    return [
        gr.update(value=snapshot.line, visible=True),
        gr.update(visible=not snapshot.finished),
        gr.update(choices=snapshot.stages, value=card.stage if card else None, visible=pickable),
        gr.update(value=card.title if card else "", visible=True),
        gr.update(value=image, visible=image is not None),
        gr.update(value=video, visible=video is not None),
        gr.update(value=earlier, visible=bool(earlier)),
        gr.update(visible=waiting),
        gr.update(visible=waiting or (snapshot.finished and card is not None)),  # a finished stage: make it again
        gr.update(visible=waiting and "edit" in card.allowed),
        gr.update(value=files or None, visible=snapshot.finished and bool(files)),
    ]


__all__ = ["build_page"]
