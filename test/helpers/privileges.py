"""Running a command so that file permissions apply to it."""
import os
import shutil
from typing import List, Sequence

import pytest


def unprivileged(argv: Sequence[str]) -> List[str]:
    """argv run so that file permissions apply: as root, without the capabilities that
    bypass them (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH)."""
    if os.geteuid() != 0:
        return list(argv)
    if shutil.which("setpriv") is None:
        pytest.skip("root without setpriv: permissions cannot be tested")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] + list(argv)
