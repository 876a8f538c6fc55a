"""The web studio page (Gradio Blocks): chat with the director, review each stage as a card, run any task from a
form built from its SOP, follow progress, cancel. Every handler acts through the services (jobs, sessions), and
the page redraws from them once a second (:mod:`mora_agents.web._refresh`), so a closed tab loses nothing and a
reopened one shows where things are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from mora_agents.errors import MoraError
from mora_agents.messages import ReviewDecision
from mora_agents.services.jobs import JobService
from mora_agents.services.sessions import SessionService
from mora_agents.web import _refresh as refresh
from mora_agents.web._snapshot import job_snapshot
from mora_tools.loading.profiles import available_profiles

REVIEW_MODES = {"a person (you)": "human", "the judge panel (ties come to you)": "judge", "nobody (accept all)": "auto"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
INTRO = ("# mora studio\nDescribe a video, review each stage, then ask for changes: "
         "*make it longer*, *connect the first and the second clip*.")  # fmt: skip
CSS = """
.mora-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px; }
#mora-result img { height: 300px; width: auto; image-rendering: pixelated; }
#mora-earlier img { image-rendering: pixelated; }
@media (max-width: 640px) { .mora-side { min-width: 100% !important; } #mora-result img { height: 200px; } }
"""


@dataclass
class _State:
    """What one browser tab holds: its session, the job its card shows, what was drawn last, the stage viewed."""

    session: gr.State
    job: gr.State
    shown: gr.State
    viewing: gr.State


@dataclass
class _Chat:
    """The chat tab's controls."""

    picker: gr.Dropdown
    new: gr.Button
    undo: gr.Button
    review: gr.Radio
    seed: gr.Number
    profile: gr.Dropdown
    chat: gr.Chatbot
    message: gr.Textbox
    upload: gr.UploadButton
    remake: gr.Button


@dataclass
class _Card:
    """The stage card: the job's state, its result, and the review buttons."""

    status: gr.Markdown
    cancel: gr.Button
    job_pick: gr.Dropdown
    stage_pick: gr.Radio
    title: gr.Markdown
    image: gr.Image
    video: gr.Video
    earlier: gr.Gallery
    accept: gr.Button
    regenerate: gr.Button
    edit: gr.Button
    edit_row: gr.Row
    instruction: gr.Textbox
    send: gr.Button
    downloads: gr.File

    def redrawn(self) -> list:
        """The components :func:`~mora_agents.web._refresh.card_updates` updates, in its order."""
        return [self.status, self.cancel, self.stage_pick, self.title, self.image, self.video, self.earlier,
                self.accept, self.regenerate, self.edit, self.downloads]  # fmt: skip


def build_page(jobs: JobService, sessions: SessionService) -> gr.Blocks:
    """The studio's page for the server of ``jobs`` and ``sessions``."""
    with gr.Blocks(title="mora studio", fill_width=True) as page:
        drawn = {"job": "", "chat": "", "latest": None}
        state = _State(session=gr.State(None), job=gr.State(None), shown=gr.State(drawn), viewing=gr.State(None))
        gr.Markdown(INTRO)
        with gr.Tabs():
            with gr.Tab("Chat"):
                chat = _chat_tab(jobs)
            with gr.Tab("Tasks"):
                task = gr.Dropdown(label="Task", choices=sorted(jobs.task_names()), value=None, interactive=True)
                _task_form(jobs, task, state.job)
        card = _stage_card()
        _redraw_every_second(page, jobs, sessions, state, chat, card)
        _wire_turns(jobs, sessions, state, chat)
        _wire_session_picker(sessions, state, chat)
        _wire_review(jobs, state, chat, card)
    return page


def _review_modes(jobs: JobService) -> list[str]:
    return [mode for mode, review in REVIEW_MODES.items() if review != "judge" or jobs.has_judges]


def _chat_tab(jobs: JobService) -> _Chat:
    modes = _review_modes(jobs)
    with gr.Row():
        with gr.Column(scale=1, min_width=260, elem_classes="mora-side"):
            picker = gr.Dropdown(label="Session", choices=[], interactive=True)
            new = gr.Button("New session")
            undo = gr.Button("Undo last result")
            review = gr.Radio(modes, value=modes[0], label="Review by")
            seed = gr.Number(label="Seed", value=0, precision=0, minimum=0)
            profile = gr.Dropdown(available_profiles(), value=jobs.default_profile, label="Profile",
                                  info="the models of this session's next turns")  # fmt: skip
        with gr.Column(scale=3):
            chat = gr.Chatbot(label="Conversation", height=460, buttons=[])
            message = gr.Textbox(label="Message", placeholder="a red kite over a green hill, 2 seconds", lines=1,
                                 max_lines=4)  # fmt: skip
            with gr.Row():
                upload = gr.UploadButton("Give an image or a video", file_types=["image", "video"])
                remake = gr.Button("Make the next stale result again", visible=False)
    return _Chat(picker, new, undo, review, seed, profile, chat, message, upload, remake)


def _stage_card() -> _Card:
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
    return _Card(status, cancel, job_pick, stage_pick, title, image, video, earlier, accept, regenerate, edit,
                 edit_row, instruction, send, downloads)  # fmt: skip


def _redraw_every_second(
    page: gr.Blocks, jobs: JobService, sessions: SessionService, state: _State, chat: _Chat, card: _Card
) -> None:
    """On open, the newest session; then once a second the conversation and the card, from the services."""

    async def opened():
        listed = sessions.summaries()
        chosen = listed[0]["id"] if listed else None
        latest = refresh.latest_job(sessions, chosen)
        return refresh.session_choices(listed, chosen), chosen, latest, {"job": "", "chat": "", "latest": latest}

    page.load(opened, outputs=[chat.picker, state.session, state.job, state.shown])

    async def tick(session_id, job_id, seen, stage):
        chat_update, chat_key = refresh.conversation(sessions, session_id, seen["chat"])
        latest = refresh.latest_job(sessions, session_id)
        shown_job = gr.skip()  # a tick never writes back the job it was given: a Run meanwhile would be lost
        if latest is not None and latest != seen.get("latest"):
            job_id = shown_job = latest  # a new turn's job (from this tab or another): show it
        updates, job_key = refresh.card(jobs, job_id, seen["job"], stage)
        if chat_key != seen["chat"] or latest != seen.get("latest") or job_id != seen.get("job_id"):
            stale = gr.update(visible=refresh.next_stale(sessions, session_id) is not None)
            turns = refresh.turn_choices(sessions, session_id, job_id)
        else:
            stale = turns = gr.skip()
        seen = {"job": job_key, "chat": chat_key, "latest": latest, "job_id": job_id}
        return [chat_update, shown_job, seen, stale, turns, *updates]

    redrawn = [chat.chat, state.job, state.shown, chat.remake, card.job_pick, *card.redrawn()]
    gr.Timer(1.0).tick(tick, inputs=[state.session, state.job, state.shown, state.viewing], outputs=redrawn)
    card.job_pick.input(lambda picked: (picked, None), inputs=[card.job_pick], outputs=[state.job, state.viewing])
    card.stage_pick.input(lambda stage: stage, inputs=[card.stage_pick], outputs=[state.viewing])


def _wire_turns(jobs: JobService, sessions: SessionService, state: _State, chat: _Chat) -> None:
    """A message and a file given start the session if none is open; stale results are made again on request."""

    async def say(text, session_id, mode, base_seed, models):
        text = (text or "").strip()
        if not text:
            return gr.skip(), session_id, gr.skip(), gr.skip()
        try:
            session_id = session_id or sessions.create("web")
            taken = await sessions.take_turn(session_id, text, REVIEW_MODES[mode], int(base_seed or 0),
                                             models or None)  # fmt: skip
        except MoraError as error:
            raise gr.Error(str(error)) from None
        listed = sessions.summaries()
        return "", session_id, taken.job.id if taken.job else gr.skip(), refresh.session_choices(listed, session_id)

    chat.message.submit(say, inputs=[chat.message, state.session, chat.review, chat.seed, chat.profile],
                        outputs=[chat.message, state.session, state.job, chat.picker])  # fmt: skip

    async def give(file, session_id):
        if file is None:
            return session_id, gr.skip()
        path = Path(file if isinstance(file, str) else file.name)
        kind = "image" if path.suffix.lower() in IMAGE_SUFFIXES else "video"
        try:
            session_id = session_id or sessions.create("web")
            data = path.read_bytes()
            await sessions.add_upload(session_id, data, kind, path.name, path.stem.replace("_", " "))
        except MoraError as error:
            raise gr.Error(str(error)) from None
        return session_id, refresh.session_choices(sessions.summaries(), session_id)

    chat.upload.upload(give, inputs=[chat.upload, state.session], outputs=[state.session, chat.picker])

    async def again(session_id, mode):
        found = refresh.next_stale(sessions, session_id)
        if found is None:
            raise gr.Error("no result of this session is stale")
        try:
            return jobs.rerun(found.id, None, REVIEW_MODES[mode]).record.id
        except MoraError as error:
            raise gr.Error(str(error)) from None

    chat.remake.click(again, inputs=[state.session, chat.review], outputs=[state.job])


def _wire_session_picker(sessions: SessionService, state: _State, chat: _Chat) -> None:
    """New session, pick another, undo the last result."""

    async def start_new():
        session_id = sessions.create("web")
        return session_id, None, refresh.session_choices(sessions.summaries(), session_id)

    chat.new.click(start_new, outputs=[state.session, state.job, chat.picker])

    async def pick(session_id):
        return session_id, refresh.latest_job(sessions, session_id)

    chat.picker.input(pick, inputs=[chat.picker], outputs=[state.session, state.job])

    async def take_back(session_id):
        if not session_id:
            raise gr.Error("no session is open: there is nothing to undo")
        turn = sessions.undo(session_id)
        if turn is None:
            raise gr.Error("this session has no finished result to undo")
        gr.Info(f"turn {turn.index} undone: its result is no longer part of the session")

    chat.undo.click(take_back, inputs=[state.session])


def _wire_review(jobs: JobService, state: _State, chat: _Chat, card: _Card) -> None:
    """The card's buttons: accept, regenerate (a finished stage: make it again), edit with an instruction, cancel."""

    def decider(action: str):
        async def decide(job_id, text=None):
            try:
                jobs.decide(job_id, ReviewDecision(action=action, instruction=text or None, by="web"))
            except (MoraError, ValueError) as error:
                raise gr.Error(str(error).splitlines()[-1]) from None
            return gr.update(visible=False), ""

        return decide

    edited = [card.edit_row, card.instruction]
    card.accept.click(decider("accept"), inputs=[state.job], outputs=edited)

    async def regenerate_stage(job_id, stage, mode):
        snapshot = job_snapshot(jobs, job_id, stage)
        if snapshot.card is not None and not snapshot.card.waiting and snapshot.finished:
            # A finished stage made again: what was made from it is marked stale, then made again on request.
            try:
                jobs.rerun(job_id, snapshot.card.stage, REVIEW_MODES[mode])
            except MoraError as error:
                raise gr.Error(str(error)) from None
            return gr.update(visible=False), "", None
        update, text = await decider("regenerate")(job_id)
        return update, text, stage

    card.regenerate.click(regenerate_stage, inputs=[state.job, state.viewing, chat.review],
                          outputs=[*edited, state.viewing])  # fmt: skip
    card.edit.click(lambda: gr.update(visible=True), outputs=[card.edit_row])
    card.send.click(decider("edit"), inputs=[state.job, card.instruction], outputs=edited)
    card.instruction.submit(decider("edit"), inputs=[state.job, card.instruction], outputs=edited)

    async def stop(job_id):
        try:
            jobs.cancel(job_id)
        except MoraError as error:
            raise gr.Error(str(error)) from None

    card.cancel.click(stop, inputs=[state.job])


def _task_form(jobs: JobService, task: gr.Dropdown, job: gr.State) -> None:
    """A form per task, built from its SOP's typed inputs: a new SOP file gets its form with no code."""

    @gr.render(inputs=[task])
    def form(name):
        if not name:
            gr.Markdown("Pick a task to see its inputs.")
            return
        spec = jobs.task(name)
        gr.Markdown(f"**{spec.name}**: {spec.description}")
        fields = {input_name: _input_field(input_name, item) for input_name, item in spec.inputs.items()}
        modes = _review_modes(jobs)
        review = gr.Radio(modes, value=modes[0], label="Review by", interactive=True)
        run = gr.Button("Run", variant="primary")

        async def submit(mode, *values):
            given = {input_name: value for input_name, value in zip(fields, values, strict=True)
                     if value not in (None, "")}  # fmt: skip
            try:
                created = await jobs.submit_form(spec.name, given, review=REVIEW_MODES[mode])
            except MoraError as error:
                raise gr.Error(str(error)) from None
            gr.Info(f"{spec.name} queued as {created.id}")
            return created.id

        run.click(submit, inputs=[review, *fields.values()], outputs=[job])


def _input_field(name: str, item):
    """The form's field for one SOP input, by its type."""
    label = f"{name}{' (required)' if item.required else ''}"
    info = item.description or None
    if item.type in ("image", "video"):
        widget = gr.Image if item.type == "image" else gr.Video
        return widget(label=label, sources=["upload"], interactive=True,
                      **({"type": "filepath"} if item.type == "image" else {}))  # fmt: skip
    if item.type == "choice":
        return gr.Dropdown(item.choices, value=item.default, label=label, info=info, interactive=True)
    if item.type in ("seconds", "int"):
        return gr.Number(value=item.default, label=label, info=info, interactive=True,
                         precision=0 if item.type == "int" else None)  # fmt: skip
    return gr.Textbox(value=item.default, label=label, info=info, interactive=True)


__all__ = ["CSS", "build_page"]
