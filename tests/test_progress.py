"""Progress bars: tqdm's own in a terminal, about ten lines a bar in a log."""

from __future__ import annotations

import io
import re
import time

from tqdm import tqdm

from rnnmem.progress import LOG_UPDATES, progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _lines(written: str) -> list[str]:
    """What a log viewer shows as lines: every redraw starts with a carriage return."""
    return [line for line in re.split(r"[\r\n]", written) if line.strip()]


def _slow_loop(bar) -> None:
    """A loop long enough for tqdm to redraw many times on time alone (every 0.1 s)."""
    for _ in bar:
        time.sleep(0.004)


def test_a_long_loop_writes_about_ten_lines_to_a_log():
    log = io.StringIO()
    _slow_loop(progress(range(500), desc="step", file=log))
    lines = _lines(log.getvalue())
    assert len(lines) <= LOG_UPDATES + 2, lines  # the first, every tenth, the last
    assert "500/500" in lines[-1]
    # tqdm alone, on the same loop, writes a line every tenth of a second: what this counts.
    plain = io.StringIO()
    _slow_loop(tqdm(range(500), desc="step", file=plain))
    assert len(_lines(plain.getvalue())) > LOG_UPDATES + 2


def test_a_bar_moved_by_hand_from_a_resumed_step_stays_short_in_a_log():
    log = io.StringIO()
    with progress(total=10_000, initial=4_000, file=log) as bar:
        for _ in range(6_000):
            bar.update(1)
    lines = _lines(log.getvalue())
    assert len(lines) <= LOG_UPDATES + 2 and "10000/10000" in lines[-1], lines


def test_a_terminal_gets_tqdms_own_bar():
    terminal = Terminal()
    ours, plain = progress(range(10), file=terminal), tqdm(range(10), file=terminal)
    for setting in ("miniters", "mininterval", "maxinterval", "dynamic_miniters"):
        assert getattr(ours, setting) == getattr(plain, setting), setting
    ours.close()
    plain.close()


def test_a_postfix_set_every_step_waits_for_the_next_redraw_in_a_log():
    """Training sets the loss as the bar's postfix every few steps: in a log that must not
    redraw the bar each time (tqdm's set_postfix refreshes by default)."""
    log = io.StringIO()
    with progress(total=300, file=log) as bar:
        for step in range(300):
            bar.update(1)
            bar.set_postfix(loss=f"{1 / (step + 1):.3f}")
    lines = _lines(log.getvalue())
    assert len(lines) <= LOG_UPDATES + 2, lines
    assert "loss=" in lines[-1]
