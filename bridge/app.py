"""``cmt-bridge run``: wire plugins, clock, transport, host, OSC, MIDI in, CC and Link together.

Start-up order: plugins -> clock -> transport (output process, ports) -> host
(models, workers) -> OSC control -> MIDI input / Link -> ``--play`` launches ->
the ready line on stderr. Shut-down (``--seconds`` elapsed, Ctrl-C, SIGTERM,
or the output process died) runs the same list backwards; the transport sends
every pending note-off and writes the final recording, so nothing hangs.
"""
from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from .config import Settings
from .errors import BridgeError, ConfigError
from .generator import NO_MIDI_INPUT

log = logging.getLogger(__name__)

READY = "cmt-bridge ready:"
CLOSE_HOST_S = 1.5   # seconds the generators' threads get to finish at shut-down (notes are off before)


def recording_path(record: str | None, now: float | None = None) -> Path | None:
    """Where this session records: ``""`` -> ``recordings/cmt-bridge-{time}.mid``; None -> no recording.

    ``{time}`` (and ``{date}``) in the path is the start time; a file already there is never replaced:
    the take gets the first free ``name-2.mid``, ``name-3.mid``, ... (:func:`bridge.paths.numbered`).
    """
    from .paths import numbered, with_time

    if record is None:
        return None
    path = with_time(record or "recordings/cmt-bridge-{time}.mid", now)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create the recording folder {path.parent} ({e.strerror})") from None
    fresh = numbered(path)
    if fresh != path:
        log.warning("%s exists (an earlier take): recording to %s", path, fresh.name)
    return fresh


def compact_status(status: dict) -> dict:
    """The ``/cmt/status`` reply: :meth:`Bridge.status` without what says nothing or twice (a generator's
    ``None`` values, e.g. no error; ``ready`` once it is; a plugin named like its generator; ``channels`` that are the
    generator's own ``channel`` parameter, or per-part ``<part>_channel`` parameters that ``channels``
    shows), so it stays within what Pd prints in one symbol (1000 characters)."""
    out = dict(status)
    gens = {}
    for name, g in status.get("generators", {}).items():
        g = {k: v for k, v in g.items() if v is not None}
        params, channels = g.get("params", {}), g.get("channels")
        if not channels or channels == {name: params.get("channel")}:
            g.pop("channels", None)      # none, or the generator's own channel parameter
        else:
            g["params"] = {k: v for k, v in params.items() if not k.endswith("_channel")}
        if g.get("plugin") == name:
            g.pop("plugin")
        if g.get("ready") is True:
            g.pop("ready")               # said only while a generator is still warming up
        gens[name] = g
    out["generators"] = gens
    return out


def channel_text(name: str, channels: dict[str, int]) -> str:
    """`` (ch 1)`` for a generator on one channel, `` (lead 3, bass 6)`` for parts, ``""`` for none."""
    if not channels:
        return ""
    if list(channels) == [name]:
        return f" (ch {channels[name]})"
    return " (" + ", ".join(f"{part} {ch}" for part, ch in channels.items()) + ")"


class Bridge:
    """One running host; :meth:`run` blocks until stopped."""

    def __init__(self, settings: Settings, out: TextIO | None = None,
                 actions: list[tuple[str, str, list]] | None = None):
        self.settings = settings
        self.actions = list(actions or [])   # (generator, action, args) run once at launch (--do)
        self.out = out or sys.stderr
        self.stopping = threading.Event()
        self.exit_code = 0
        self.control = None
        self.midi_in = None
        self.link = None
        self.transport = None
        self.host = None
        self.ccmap = None
        self.web = None

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    # -- wiring --------------------------------------------------------------
    def _error(self, address: str, reason: str) -> None:
        if self.control is not None:
            self.control.error(address, reason)
        else:
            log.warning("%s: %s", address, reason)

    def _progress(self, task: str, fraction: float) -> None:
        if self.control is not None:
            self.control.progress(task, fraction)

    def _info(self, generator: str, text: str) -> None:
        self.say(f"{generator}: {text}")
        if self.control is not None:
            self.control.info(generator, text)

    def _send(self, address: str, args: tuple) -> None:
        if self.control is not None:
            self.control.send(address, *args)

    def _recent_input(self, beats: float) -> list:
        return self.midi_in.history(beats) if self.midi_in is not None else []

    def handle(self, entry, values: list[Any]) -> None:
        """An OSC message that passed the schema: act on it."""
        host = self.host
        if entry.kind == "param":
            host.set_param(entry.generator, entry.target, values[0], checked=True)   # the schema checked them
        elif entry.kind == "action":
            host.perform(entry.generator, entry.target, values, checked=True)
        elif entry.path.startswith("/cmt/preset/"):
            self.preset(entry.path.rsplit("/", 1)[-1], values[0] if values else "")
        else:
            verb = entry.path.rsplit("/", 1)[-1]
            if verb == "play":
                host.play(values[0], values[1])
            elif verb == "stop":
                host.stop(values[0] or None)
            elif verb == "panic":
                host.panic()
            elif verb == "tempo":
                host.set_tempo(values[0])
            elif verb == "sync":
                host.sync(values[0], values[1])
            elif verb == "status":
                # compact: Pd's symbols hold at most 1000 characters (MAXPDSTRING)
                self.control.send("/cmt/status", json.dumps(compact_status(self.status()), default=str,
                                                            separators=(",", ":")))
            elif verb == "learn":
                if self.midi_in is None:
                    raise ConfigError(NO_MIDI_INPUT.format(what="/cmt/learn binds the next CC that moves"))
                self.ccmap.learn(values[0], values[1])
                self.say(f"cmt-bridge: learning: move a controller on {self.midi_in.name!r} to bind it to "
                         f"{values[0]}.{values[1]}")
            elif verb == "reload":
                host.reload(values[0] or None)

    def preset(self, verb: str, name: str) -> None:
        """``/cmt/preset/save|load|list``: snapshots of every loaded generator's parameters (bridge.presets)."""
        from . import presets

        if verb == "list":
            self.control.send("/cmt/presets", json.dumps(presets.list_presets()))
        elif verb == "save":
            values = {n: dict(s["params"]) for n, s in self.host.status()["generators"].items()}
            path = presets.save_preset(name, values)
            self._info("preset", f"saved {presets.check_name(name)} ({path})")
        elif verb == "load":
            checked, missing = presets.check_preset(name, presets.read_preset(name), self.host.classes)
            for gen, params in checked.items():
                for param, value in params.items():
                    self.host.set_param(gen, param, value, checked=True)
            skipped = f"; not loaded here: {', '.join(missing)}" if missing else ""
            self._info("preset", f"loaded {presets.check_name(name)}: "
                                 f"{sum(len(p) for p in checked.values())} values{skipped}")

    def status(self) -> dict:
        s = self.host.status()
        try:
            s["sounding"] = self.transport.sounding()
        except BridgeError:
            s["sounding"] = None
        s["cc"] = [b.describe() for b in self.ccmap.bindings]
        s["learning"] = ".".join(self.ccmap.learning) if self.ccmap.learning else None
        if self.control is not None:   # counters that are not zero (see OscControl.stats)
            s["osc"] = {k: v for k, v in self.control.stats().items() if v}
        return s

    def _on_learned(self, b) -> None:
        from . import presets

        learned = f"cmt-bridge: learned CC {b.cc} on channel {(b.channel or 0) + 1} -> {b.generator}.{b.param}"
        try:
            self.say(f"{learned}, kept in {presets.remember_cc(b)} (bound again at the next start):\n{b.to_toml()}")
        except (BridgeError, OSError) as e:
            log.warning("could not keep the learned CC mapping: %s", e)
            self.say(f"{learned}; to keep it, add to your config (cmt-bridge.toml):\n{b.to_toml()}")
        if self.control is not None:
            self.control.send("/cmt/learned", b.generator, b.param, (b.channel or 0) + 1, b.cc)

    def start(self) -> None:
        from . import presets
        from .cc import CCMap, binding_from_config
        from .clock import Clock
        from .host import Host
        from .osc import OscControl, OscSchema
        from .plugins import collect_generators, make_plugin_manager, plugin_of
        from .transport import Transport, TransportOptions

        s = self.settings
        pm = make_plugin_manager()
        gens, errors = collect_generators(pm)
        for e in errors:
            self.say(f"cmt-bridge: warning: {e}")
        for name in s.play:
            if name not in gens:
                raise ConfigError(f"--play {name}: no such generator (have: {', '.join(sorted(gens)) or 'none'})")
        bindings = [binding_from_config(entry, gens) for entry in s.cc]
        bindings = presets.merge_cc(self._learned_cc(gens), bindings)
        defaults = s.generators
        if s.preset:
            checked, missing = presets.check_preset(s.preset, presets.read_preset(s.preset), gens)
            defaults = {g: {**checked.get(g, {}), **s.generators.get(g, {})} for g in {*checked, *s.generators}}
            self.say(f"cmt-bridge: preset {s.preset}" + (f" (not loaded here: {', '.join(missing)})"
                                                          if missing else ""))

        clock = Clock(s.tempo, s.beats_per_bar)
        record = recording_path(s.record)
        self.record = record
        if s.web is not None:   # its note tap first: the output process copies /cmt/note and /cmt/beat there
            from .web import WebSurface

            self.web = WebSurface(s.web_host, s.web, s.osc_allow)
        options = TransportOptions(midi_out=s.midi_out, virtual_name=s.virtual_name, api=s.api,
                                   clock_out=s.clock_out, osc_out=(s.reply_host, s.reply_port), record=record,
                                   osc_copy=self.web.tap_address if self.web else None)
        self.transport = Transport(options, clock.anchor)
        self.transport.start()
        clock.add_listener(self.transport.set_anchor)
        self.clock = clock

        self.host = Host(gens, clock, self.transport, plugin_of=lambda n: plugin_of(pm, n), provider=s.provider,
                         lookahead=s.lookahead, quantize=s.quantize, recent_input=self._recent_input,
                         on_error=self._error, on_progress=self._progress, on_info=self._info,
                         on_send=self._send, midi_input=lambda: self.midi_in.name if self.midi_in else None,
                         defaults=defaults)
        load_errors = self.host.load()
        for e in load_errors:
            self.say(f"cmt-bridge: warning: {e}")
        loaded = {n: gens[n] for n in self.host.names}
        for name in s.play:
            if name not in loaded:
                raise ConfigError(f"--play {name}: the generator failed to load (see the warning above)")
        self.ccmap = CCMap(loaded, self.host.set_param, [b for b in bindings if b.generator in loaded],
                           on_learned=self._on_learned)
        self.control = OscControl(OscSchema(loaded), self.handle, s.osc_host, s.osc_port,
                                  (s.reply_host, s.reply_port), s.osc_allow).start()
        for e in errors + load_errors:
            self.control.send("/cmt/error", "/cmt", e)
        if self.web is not None:
            self._start_web(loaded)

        if s.midi_in is not None or s.virtual_in or s.follow_clock:
            from .midi_in import MidiInput

            self.midi_in = MidiInput(clock, name=s.midi_in, virtual_name=f"{s.virtual_name}-in", api=s.api,
                                     on_cc=self._on_cc, follow_clock=s.follow_clock,
                                     on_transport=self._on_midi_transport)
        if s.link:
            from .link import LinkSync

            self.link = LinkSync(clock)
            self.link.start()
        if s.clock_out:
            self.transport.start_clock()
        for gen, action, _ in self.actions:
            if gen not in self.host.names:
                raise ConfigError(f"--do {gen}.{action}: no such generator loaded (have: "
                                  f"{', '.join(self.host.names) or 'none'})")
        for name in s.play:
            self.host.play(name)
        for gen, action, args in self.actions:
            self.host.perform(gen, action, args)   # its errors come back like an OSC action's
        port = self.transport.port_name or s.midi_out or s.virtual_name
        web = f" | web {self.web.url}" if self.web is not None else ""
        midi_in = f"MIDI in {self.midi_in.name!r}" if self.midi_in is not None else "no MIDI in (--virtual-in)"
        gens = ", ".join(f"{n}{channel_text(n, self.host.channels(n))}" for n in self.host.names)
        self.say(f"{READY} MIDI out {port!r} | {midi_in} | OSC in {s.osc_host}:{self.control.port} -> "
                 f"{s.reply_host}:{s.reply_port}{web} | generators: {gens or 'none'}"
                 f"{' | playing: ' + ', '.join(s.play) if s.play else ''}"
                 f"{' | recording ' + str(record) if record else ''}")

    def _learned_cc(self, gens: dict) -> list:
        """The bindings of the user's cc.toml that fit these generators (the others: one warning each)."""
        from . import presets
        from .cc import binding_from_config

        out = []
        try:
            entries = presets.read_cc()
        except BridgeError as e:
            self.say(f"cmt-bridge: warning: learned CC mappings ignored: {e}")
            return []
        for entry in entries:
            try:
                out.append(binding_from_config(entry, gens))
            except BridgeError as e:
                self.say(f"cmt-bridge: warning: {presets.cc_path()}: {e}")
        return out

    def _start_web(self, loaded: dict) -> None:
        """The browser control surface; when it cannot start, one warning line and the host plays on."""
        from .osc import OscSchema

        schema = json.loads(json.dumps(OscSchema(loaded).describe(), default=str))
        try:
            self.web.start(schema, self.control.submit, self.status)
        except BridgeError as e:
            self.say(f"cmt-bridge: warning: no web surface: {e}")
            self.web = None
            return
        self.control.listeners.append(self.web.publish)

    def _on_cc(self, channel: int, cc: int, value: int) -> None:
        try:
            self.ccmap.handle(channel, cc, value)
        except BridgeError as e:
            self._error("/cmt/cc", str(e))

    def _on_midi_transport(self, what: str) -> None:
        log.info("MIDI transport: %s", what)

    # -- running -------------------------------------------------------------
    def run(self) -> int:
        """Start, wait for --seconds / a signal / a dead output process, stop cleanly."""
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, lambda signum, frame: self.stopping.set())
        try:
            self.start()
            end = None if self.settings.seconds is None else time.monotonic() + self.settings.seconds
            while not self.stopping.is_set():
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    break
                self.stopping.wait(0.2 if left is None else min(0.2, left))
                if not self.transport.is_alive():
                    self.say("cmt-bridge: error: the MIDI output process stopped")
                    self.exit_code = 1
                    break
        finally:
            self.shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.exit_code

    def shutdown(self) -> None:
        for step, fn in (("web", lambda: self.web and self.web.close()),
                         ("osc", lambda: self.control and self.control.close()),
                         ("host", lambda: self.host and self.host.stop()),
                         # its own step: a stop refused by a dead output process must not skip the close
                         ("workers", lambda: self.host and self.host.close(CLOSE_HOST_S)),
                         ("midi in", lambda: self.midi_in and self.midi_in.close()),
                         ("link", lambda: self.link and self.link.close()),
                         ("clock out", lambda: self.transport and self.settings.clock_out
                          and self.transport.is_alive() and self.transport.stop_clock()),
                         ("transport", lambda: self.transport and self.transport.close())):
            try:
                fn()
            except BridgeError as e:
                if self.stopping.is_set() and self.transport is not None and not self.transport.is_alive():
                    # Ctrl-C reaches the whole process group: the output process ended its notes and
                    # closed on the same signal, so there is nothing left to stop there (not a crash)
                    log.info("stopping %s: %s", step, e)
                else:
                    log.warning("stopping %s: %s", step, e)
            except Exception:
                log.exception("stopping %s failed", step)
        if getattr(self, "record", None):
            self.say(f"cmt-bridge: recorded {self.record}")
