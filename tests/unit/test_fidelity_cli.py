"""``generec fidelity check`` through the real CLI parser, on real demo frames."""

from __future__ import annotations

import json

import pytest
from fidelity_images import colour_shifted, demo_frame, jpeg, with_pasted_face

from generec_core.config import GateConfig
from generec_core.fidelity.metadata import mark_ai_generated
from jobs.cli import main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("fidelity-cli")
    frame = demo_frame("coffee")
    paths = {"source": d / "item-0001-f003.jpg", "same": d / "item-0001-f003-copy.jpg",
             "generated": d / "item-0001-f003-gen.jpg", "face": d / "item-0001-f003-face.jpg"}
    paths["source"].write_bytes(jpeg(frame))
    paths["same"].write_bytes(jpeg(frame, 85))
    paths["generated"].write_bytes(mark_ai_generated(jpeg(colour_shifted(frame)), "restyle/test"))
    paths["face"].write_bytes(mark_ai_generated(jpeg(with_pasted_face(frame)), "restyle/test"))
    return paths


def _check(capsys, *args: str) -> tuple[int, dict]:
    code = main(["fidelity", "check", *args])
    return code, json.loads(capsys.readouterr().out)


def test_a_faithful_generated_image_passes(capsys, files):
    code, verdict = _check(capsys, "--source", str(files["source"]), "--candidate", str(files["generated"]),
                           "--generated")
    assert code == 0 and verdict["pass"] is True
    assert {"authenticity", "safety", "sharpness", "new_faces", "identifiability", "no_user_identifier"} <= set(verdict["checks"])
    auth = verdict["checks"]["authenticity"]
    assert set(auth) == {"pass", "score", "threshold", "reason"} and auth["pass"] and auth["threshold"] == GateConfig().min_authenticity_generated


def test_a_pasted_face_fails_with_exit_code_1(capsys, files):
    code, verdict = _check(capsys, "--source", str(files["source"]), "--candidate", str(files["face"]), "--generated")
    assert code == 1 and verdict["pass"] is False
    assert verdict["checks"]["new_faces"] == {"pass": False, "score": 1.0, "threshold": 0.0,
                                              "reason": "face absent from its source"}


def test_repurposed_rules_without_generated_flag(capsys, files):
    code, verdict = _check(capsys, "--source", str(files["source"]), "--candidate", str(files["same"]))
    assert code == 0 and "new_faces" not in verdict["checks"]
    code, verdict = _check(capsys, "--source", str(files["source"]), "--candidate", str(files["generated"]))
    assert code == 1 and not verdict["checks"]["identifiability"]["pass"]  # AI-marked, presented as real footage


def test_user_ids_and_config_overrides(capsys, files):
    code, verdict = _check(capsys, "--source", str(files["source"]), "--candidate", str(files["same"]),
                           "--user-id", "0001", "--config", '{"gate": {"min_authenticity": 0.999}}')
    assert code == 1
    assert verdict["checks"]["no_user_identifier"]["pass"] is False  # "0001" is a token of the file name
    assert verdict["checks"]["authenticity"]["threshold"] == 0.999


def test_bad_input_is_one_line_naming_it(capsys, files, tmp_path):
    assert main(["fidelity", "check", "--source", str(tmp_path / "nope.jpg"), "--candidate", str(files["same"])]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--source" in err and "nope.jpg" in err
    bad = tmp_path / "source.txt"
    bad.write_text("not an image")
    assert main(["fidelity", "check", "--source", str(bad), "--candidate", str(files["same"])]) == 2
    assert "does not decode" in capsys.readouterr().err
