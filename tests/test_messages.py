import pytest
from pydantic import ValidationError

from mora_agents.messages import ImageArtifact, ReviewDecision, ReviewRequest, VideoArtifact


@pytest.mark.parametrize(
    ("text", "action", "instruction"),
    [
        ("accept", "accept", None),
        ("  A ", "accept", None),
        ("regenerate", "regenerate", None),
        ("r", "regenerate", None),
        ('edit "warmer light"', "edit", "warmer light"),
        ("e make it night", "edit", "make it night"),
    ],
)
def test_review_decision_parses_answers(text, action, instruction):
    decision = ReviewDecision.parse(text, by="console")
    assert (decision.action, decision.instruction, decision.by) == (action, instruction, "console")


@pytest.mark.parametrize("text", ["", "maybe", "edit", "accept now", "regenerate please"])
def test_review_decision_rejects_bad_answers(text):
    with pytest.raises(ValueError):
        ReviewDecision.parse(text)


def test_edit_decision_needs_instruction():
    with pytest.raises(ValidationError, match="instruction"):
        ReviewDecision(action="edit")
    with pytest.raises(ValidationError, match="takes no instruction"):
        ReviewDecision(action="accept", instruction="x")


def _image(**overrides) -> ImageArtifact:
    fields = {
        "path": "a.png",
        "sha256": "0" * 64,
        "model_id": "m",
        "seed": 1,
        "seconds": 0.1,
        "width": 64,
        "height": 64,
    }
    return ImageArtifact(**{**fields, **overrides})


def test_artifacts_travel_by_reference_and_round_trip():
    image = _image(parameters={"steps": 4})
    request = ReviewRequest(stage="first_frame", iteration=1, max_iterations=3, artifact=image)
    again = ReviewRequest.model_validate_json(request.model_dump_json())
    assert again.artifact == image
    assert isinstance(again.artifact, ImageArtifact)
    with pytest.raises(ValidationError):
        _image(sha256="not-a-hash")


def test_video_artifact_duration():
    video = VideoArtifact(
        path="v.mp4", sha256="f" * 64, model_id="m", seed=0, seconds=1, width=64, height=64, fps=8, num_frames=32
    )
    assert video.duration == 4.0
    assert ReviewRequest(stage="animate", iteration=1, max_iterations=3, artifact=video).artifact.kind == "video"


def test_the_cli_refuses_the_same_seeds_as_the_messages():
    # The CLI keeps its own copy of the bound (importing messages would slow `mora --help`): they must agree.
    from mora_agents import messages
    from mora_agents.cli import options

    assert options.MAX_SEED == messages.MAX_SEED == 2**63 - 1
