"""What a fresh interpreter imports: the stages need no torch for their label order."""

from __future__ import annotations

import subprocess
import sys


def test_the_stages_get_the_label_order_without_torch():
    code = "import sys, pipeline.stages.sentiment, pipeline.stages.stance; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
