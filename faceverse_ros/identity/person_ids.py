"""Person id strings: ``<prefix><n>``, numbered past every id already taken.

The prefix follows the face id rule (faceverse_ros.io.face_ids.person_prefix: ``f`` ->
``p``, ``robot1_f`` -> ``robot1_p``), so nodes in different namespaces never make the same
person id; a gallery file's ids are never handed out again.
"""


def person_id_string(prefix: str, number: int) -> str:
    """``<prefix><number>``, e.g. ``p3`` or ``robot1_p3``."""
    return f"{prefix}{int(number)}"


def next_person_number(prefix: str, taken) -> int:
    """The first number above every id of ``taken`` made with ``prefix``."""
    top = 0
    for pid in taken:
        rest = pid[len(prefix):] if pid.startswith(prefix) else ""
        if rest.isdigit():
            top = max(top, int(rest))
    return top + 1


def id_maker(prefix: str, taken=()):
    """A callable returning a new person id at each call (identity.gallery.Gallery's new_id)."""
    counter = [next_person_number(prefix, taken)]

    def new_id():
        counter[0] += 1
        return person_id_string(prefix, counter[0] - 1)

    return new_id
