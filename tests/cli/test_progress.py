"""The progress bar: counts by status, redraws on a terminal, tenth-of-the-way lines elsewhere."""

from __future__ import annotations

import io

from faber_ray.cli.progress import ProgressBar


def test_plain_stream_gets_a_line_per_tenth_with_counts() -> None:
    stream = io.StringIO()
    bar = ProgressBar(20, stream, interactive=False)
    for index in range(20):
        bar.update("FAILURE" if index % 5 == 0 else "SUCCESS")
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 11  # 0/10 .. 10/10 of the way
    assert lines[-1].startswith("[########################] 20/20 100%")
    assert "FAILURE 4 SUCCESS 16" in lines[-1]


def test_terminal_redraws_one_line() -> None:
    stream = io.StringIO()
    bar = ProgressBar(3, stream, interactive=True)
    for _ in range(3):
        bar.update("SUCCESS")
    bar.close()
    text = stream.getvalue()
    assert "\n" not in text.rstrip("\n")
    assert text.count("\r") >= 2  # first and last update always draw
    assert "3/3" in text and "SUCCESS 3" in text
