"""The person gallery's rules and its file, on hand-made descriptors (no dlib needed).

Descriptors are points placed at chosen distances from each other, so each expected
vote is worked out by hand from the module's documented rule.
"""
import json
import os
import stat

import numpy as np
import pytest

from helpers.privileges import unprivileged

from faceverse_ros.identity.person_ids import id_maker, next_person_number, person_id_string
from faceverse_ros.io.face_ids import person_prefix
from faceverse_ros.identity.gallery import MATCHED, NEW, UNKNOWN, Gallery, IdentitySettings, \
    confidence
from faceverse_ros.identity.person_model import PersonModel
from faceverse_ros.identity.recognizer import Recognizer
from faceverse_ros.identity.store import FILE_MODE, VERSION, GalleryFileError, read_gallery, \
    write_gallery


def vec(*pairs):
    """A 128-d point with the given (axis, value) entries."""
    v = np.zeros(128)
    for axis, value in pairs:
        v[axis] = value
    return v


A, B = vec((0, 1.0)), vec((1, 1.0))      # two persons, sqrt(2) apart


def test_a_new_person_after_new_after_unknown_samples_then_matched_on_return():
    g = Gallery(IdentitySettings(threshold=0.4, margin=0.05, confirm=2, new_after=3))
    assert g.add_sample(1, A, 0.0) is None and g.add_sample(1, A, 0.1) is None
    new = g.add_sample(1, A + vec((5, 0.1)), 0.2)          # third "nobody known" vote
    assert new is not None and new.new and g.person_of(1) == new.person_id
    assert g.tracks[1].status == NEW
    g.end_track(1)
    # the same face again, 0.2 away: votes for the person; two in a row match
    near = A + vec((6, 0.2))
    assert g.add_sample(2, near, 5.0) is None
    match = g.add_sample(2, near, 5.1)
    assert match is not None and not match.new and match.person_id == new.person_id
    assert g.tracks[2].status == MATCHED
    # confidence: mean distance of the track's samples to the embedding at decision time
    assert 0.5 < match.confidence <= 1.0


def test_ambiguous_samples_vote_for_nobody_and_a_far_face_is_a_new_person():
    g = Gallery(IdentitySettings(threshold=0.4, margin=0.05, confirm=2, new_after=3))
    g.enroll("a", [A])
    g.enroll("b", [A + vec((2, 0.1))])         # two persons 0.1 apart
    between = A + vec((2, 0.05), (3, 0.1))      # 0.112 from both: margin 0 < 0.05
    for k in range(6):
        assert g.add_sample(1, between, k) is None
    assert g.tracks[1].votes == [None] * 6 and g.person_of(1) == ""
    for k in range(3):
        decision = g.add_sample(2, B, k)
    assert decision is not None and decision.new and decision.person_id not in ("", )
    assert decision.person_id not in [g.by_name("a").id, g.by_name("b").id]


def test_a_person_held_by_another_live_track_is_not_matched():
    g = Gallery(IdentitySettings(confirm=1, new_after=2))
    g.enroll("a", [A])
    first = g.add_sample(1, A, 0.0)
    assert first.person_id == g.by_name("a").id
    g.add_sample(2, A, 0.0)
    second = g.add_sample(2, A, 0.1)            # a twin at the same time: not the same person
    assert second.new and second.person_id != first.person_id


def test_refinement_moves_the_embedding_towards_new_samples_within_the_threshold():
    g = Gallery(IdentitySettings(threshold=0.4, confirm=1, new_after=1))
    pid = g.add_sample(1, A, 0.0).person_id
    shifted = A + vec((7, 0.3))
    for k in range(10):
        g.add_sample(1, shifted, k)
    moved = g.persons[pid].embedding[7]
    assert 0.2 < moved < 0.3       # a running mean of 11 samples, 10 of them at 0.3: 0.27
    g.add_sample(1, A + vec((8, 5.0)), 20)     # far beyond the threshold: not taken in
    assert abs(g.persons[pid].embedding[8]) < 1e-9


def test_persons_are_forgotten_after_memory_s_unless_enrolled_or_tracked():
    g = Gallery(IdentitySettings(memory_s=10.0, confirm=1, new_after=1))
    g.enroll("kept", [B])
    anon = g.add_sample(1, A, 100.0).person_id
    assert g.expire(200.0) == []                # still tracked
    g.end_track(1)
    assert g.expire(105.0) == []                # seen 5 s ago
    assert g.expire(110.5) == [anon]            # unseen for 10.5 s
    assert [p.name for p in g.persons.values()] == ["kept"]


def test_forget_by_name_makes_its_live_track_unknown():
    g = Gallery(IdentitySettings(confirm=1))
    pid = g.enroll("ann", [A]).id
    g.add_sample(1, A, 0.0)
    assert g.person_of(1) == pid
    assert g.forget("ann") == [pid]
    assert g.person_of(1) == "" and g.tracks[1].status == UNKNOWN
    assert g.forget("nobody") == []


def test_confidence_is_half_at_the_threshold():
    assert confidence(0.0, 0.4) == 1.0 and confidence(0.4, 0.4) == 0.5
    assert confidence(0.8, 0.4) == 0.0 and confidence(2.0, 0.4) == 0.0


def test_person_ids_follow_the_face_id_rule():
    assert person_prefix("f") == "p" and person_prefix("robot1_f") == "robot1_p"
    assert person_prefix("cam1_") == "cam1_p"
    assert person_id_string("robot1_p", 3) == "robot1_p3"
    assert next_person_number("p", ["p4", "p12", "robot1_p99", "pxyz"]) == 13
    new_id = id_maker("robot1_p", ["robot1_p2"])
    assert (new_id(), new_id()) == ("robot1_p3", "robot1_p4")


def test_recognizer_samples_first_frames_then_rare_keyframes_and_ends_with_zero():
    calls = []

    def describe(items):
        calls.append(len(items))
        return np.stack([A for _ in items])

    rec = Recognizer(lambda: describe, settings=IdentitySettings(confirm=1, new_after=3),
                     background=False, refine_every=60)
    rgb, lm = np.zeros((4, 4, 3), np.uint8), np.zeros((478, 3))
    taken = [rec.offer(7, k / 30, rgb, lm, keyframe=False) for k in range(9)]
    # frames 0, 3, 6: three samples, the third makes the new person
    assert taken == [k % 3 == 0 for k in range(9)]
    events = rec.poll_events()
    assert [(e.face_id, e.new) for e in events] == [(7, True)]
    person = events[0].person_id
    # decided: a keyframe is sampled only 60 frames after the last sample (frame 6)
    more = [rec.offer(7, k / 30, rgb, lm, keyframe=True) for k in range(9, 70)]
    assert sum(more) == 1 and more.index(True) == 66 - 9
    assert rec.offer(7, 3.0, rgb, lm, keyframe=False) is False
    rec.end(7)
    assert [(e.face_id, e.person_id, e.confidence) for e in rec.poll_events()] == [(7, person, 0.0)]
    assert rec.offer(7, 4.0, rgb, lm) is True or True   # a new state for id 7 is harmless
    assert sum(calls) == 4


def test_background_recognizer_batches_and_drops_samples_of_ended_tracks():
    import threading
    gate = threading.Event()
    batches = []

    def describe(items):
        gate.wait(5)
        batches.append(len(items))
        return np.stack([B for _ in items])

    rec = Recognizer(lambda: describe, settings=IdentitySettings(confirm=1, new_after=1),
                     background=True)
    rgb, lm = np.zeros((4, 4, 3), np.uint8), np.zeros((478, 3))
    for face in (1, 2, 3):
        rec.offer(face, 0.0, rgb, lm)
    rec.end(3)
    gate.set()
    assert rec.wait_idle(5)
    assert sum(batches) == 2 or batches[0] == 1   # the first may have gone alone
    assert rec.person_of(1) and rec.person_of(2) and rec.person_of(1) != rec.person_of(2)
    assert rec.person_of(3) == ""
    assert rec.close()


# -- the file ------------------------------------------------------------------------------
def _gallery_with(names):
    g = Gallery(IdentitySettings())
    for k, name in enumerate(names):
        person = g.enroll(name, [vec((k, 1.0))])
        person.model = PersonModel(3, 2)
        person.model.add([1, 2, 3], [4, 5])
    g.add_sample(99, vec((50, 1.0)), 0.0)   # an anonymous person in memory
    return g


def test_gallery_file_round_trip_owner_only_and_only_enrolled_persons(tmp_path):
    path = tmp_path / "people.json"
    g = _gallery_with(["ann", "bob"])
    os.umask(0o022)
    assert write_gallery(path, g.persons.values()) == 2
    assert stat.S_IMODE(path.stat().st_mode) == FILE_MODE == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["people.json"]   # no temporary left
    back = read_gallery(path)
    assert sorted(p.name for p in back) == ["ann", "bob"]
    ann = next(p for p in back if p.name == "ann")
    assert np.allclose(ann.embedding, g.by_name("ann").embedding)
    assert ann.model.prior()[0].tolist() == [1, 2, 3]
    data = json.loads(path.read_text())
    assert data["version"] == VERSION and len(data["persons"]) == 2


def test_a_rewrite_keeps_owner_only_even_over_a_world_readable_file(tmp_path):
    path = tmp_path / "people.json"
    path.write_text("{}")
    path.chmod(0o644)
    write_gallery(path, _gallery_with(["ann"]).persons.values())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("content, words", [
    ("{not json", "corrupt"),
    (json.dumps({"format": "something.else", "version": 1, "persons": []}), "not a faceverse_ros"),
    (json.dumps({"format": "faceverse_ros.identity.gallery", "version": 99, "persons": []}),
     "version 99"),
    (json.dumps({"format": "faceverse_ros.identity.gallery", "version": 1,
                 "persons": [{"id": "p1", "name": "x", "embedding": [0.0] * 5}]}), "corrupt"),
])
def test_bad_gallery_files_give_one_line(tmp_path, content, words):
    path = tmp_path / "g.json"
    path.write_text(content)
    with pytest.raises(GalleryFileError) as err:
        read_gallery(path)
    assert words in str(err.value) and "\n" not in str(err.value)
    assert path.read_text() == content


CHECK = """
import sys
from faceverse_ros.identity.store import GalleryFileError, read_gallery, write_gallery
try:
    {call}
    print("no error")
except GalleryFileError as exc:
    print("error:", exc)
"""


def _as_user(call, path):
    import subprocess
    import sys

    code = CHECK.format(call=call)
    out = subprocess.run(unprivileged([sys.executable, "-c", code, str(path)]),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_unreadable_file_and_read_only_folder(tmp_path):
    path = tmp_path / "g.json"
    write_gallery(path, _gallery_with(["ann"]).persons.values())
    path.chmod(0)
    said = _as_user("read_gallery(sys.argv[1])", path)
    assert said.startswith("error: cannot read identity gallery") and "Permission denied" in said
    path.chmod(0o600)
    before = path.read_bytes()
    tmp_path.chmod(0o500)
    try:
        said = _as_user("write_gallery(sys.argv[1], [])", path)
    finally:
        tmp_path.chmod(0o700)
    assert said.startswith("error: cannot write identity gallery") and "\n" not in said
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["g.json"]


def test_person_model_median_resists_bad_keyframes():
    model = PersonModel(2, 1)
    truth = np.array([1.0, -1.0, 0.5])
    rng = np.random.default_rng(0)
    for k in range(12):
        model.add(truth[:2] + rng.normal(0, 0.01, 2), truth[2:] + rng.normal(0, 0.01, 1))
    for k in range(3):                          # three wild keyframes (an occluded face)
        model.add([40.0, 40.0], [-40.0])
    shape, tex = model.prior()
    assert np.abs(np.r_[shape, tex] - truth).max() < 0.05
    # a mean of the same 15 keyframes would be off by 8 or more
    assert model.weight() == pytest.approx(0.9)
    blended = model.blend([3.0, -1.0], [0.5])[0]
    assert blended[0] == pytest.approx(0.9 * shape[0] + 0.1 * 3.0)
