"""The README's example plugin (examples/fifths.py), loaded by $CMT_BRIDGE_PLUGINS and played into JACK."""
from __future__ import annotations

import ast
from pathlib import Path

from fakeplugins.running import BridgeRun, note_pairs

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "fifths.py"
README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_example_imports_only_the_plugin_api_and_is_the_readmes():
    tree = ast.parse(EXAMPLE.read_text(encoding="utf-8"))
    froms = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert froms == {"__future__", "bridge.api"}
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Import)]
    readme = README.read_text(encoding="utf-8")
    assert EXAMPLE.read_text(encoding="utf-8") in readme   # the README shows the file as it is


def test_the_example_plays_chords_through_the_host_into_jack(jack_server, midi_receiver):
    run = BridgeRun("--play", "fifths", "--tempo", "240", "--set", "fifths.root=43", "--set", "fifths.channel=3",
                    "--do", "fifths.jump=2", plugins=(str(EXAMPLE),), env=jack_server.env)
    try:
        run.wait_ready()
        dump = midi_receiver(run.port_name)
        msgs = dump.wait_for(lambda m: len(note_pairs(m)[0]) >= 18, 30)
        pairs, _ = note_pairs(msgs)
        assert len(pairs) >= 18 and all(on.channel == 2 for on, _ in pairs)
        chords: dict[int, set[int]] = {}
        for on, _ in pairs:   # group the notes that started together (one chord a bar, 1 s apart)
            chords.setdefault(round(on.time_s * 10), set()).add(on.data[1])
        shapes = [sorted(c) for _, c in sorted(chords.items())]
        assert len(shapes) >= 3 and all(len(c) == 3 for c in shapes), shapes
        assert all(c[1] - c[0] == 4 and c[2] - c[0] == 7 for c in shapes)   # major triads
        assert all(43 <= c[0] < 55 for c in shapes)                         # roots folded into one octave
        steps = [(b[0] - a[0]) % 12 for a, b in zip(shapes, shapes[1:])]
        # a fifth a bar, once the launch is over (the jump and the phrases it replaced move the walk on)
        assert steps[-3:] == [7, 7, 7], steps
        assert run.stop() == 0
        assert note_pairs(dump.messages())[1] == {}   # nothing left hanging
    finally:
        run.close()
