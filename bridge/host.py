"""The host: one slot per generator, a worker thread each, phrases made ahead of the clock.

Each slot owns one :class:`~bridge.generator.Generator` instance, touched only
by its worker thread (``prepare``, ``next_phrase``, ``run_action``, ``apply``,
``close``), so generators need no locks of their own. Values are checked once,
where they enter (:meth:`Host.set_param`, :meth:`Host.perform`, or before
them the OSC schema, which passes ``checked=True``); the worker applies them
as they are. The host owns phrase buffering: the phrases a generator returns
at once wait in its slot (``made``), dropped on a parameter change, an action
that returns phrases, a hot-swap or a failure. The worker warms the
generator up (``prepare()``) as soon as it is loaded, keeps one phrase cued
while idle (so a launch needs no inference), and while playing asks for the
next phrase when it starts within ``lookahead`` beats, handing the notes to
:meth:`Transport.schedule` with the phrase's start beat. Inference therefore
never runs on the output side (which is another process anyway).

Launches, action results and hand-overs take effect on the next launch
quantum (one bar by default, ``quantize=0`` = at once): the transport's
``cancel(generator, from_beat)`` drops what was queued from there on while
notes already sounding end on time, so nothing hangs and the clock never stops.
A reload builds the fresh instance in the background (one at a time per
generator, later requests merged) and swaps it in after the phrase already
queued, then releases the old instance's onnxruntime sessions.
A generator that raises is reported (log + the ``on_error`` callback, which
the app sends as ``/cmt/error``) and stopped; the other slots keep playing.
"""
from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import BridgeError, ConfigError, InputError, ModelError, PluginError
from .events import Phrase
from .generator import Generator, GeneratorContext
from .paths import os_reason
from .played import PlayedNotes

log = logging.getLogger(__name__)

LATE_TOLERANCE = 0.02      # beats a phrase may start in the past before it is moved to the next quantum
LAUNCH_MARGIN_S = 0.002    # seconds between "play now" and the first note, for the pipe to the transport
MAX_WAIT_S = 0.25          # the worker re-checks the clock at least this often (tempo changes)

ErrorSink = Callable[[str, str], None]
WARN_AGAIN_S = 1.0         # seconds before the same channel warning is said again


def moves_channels(param: str) -> bool:
    """True for a parameter that moves a generator's channels (``channel``, ``bass_channel``...)."""
    return param in ("channel", "channels", "parts") or param.endswith("_channel")


def shared_channels(channels: dict[str, dict[str, int]], fixes: dict[str, str] | None = None) -> list[str]:
    """One line per MIDI channel that more than one generator plays on.

    ``channels``: generator -> ``{part: channel 1..16}`` (:meth:`Generator.channels`);
    ``fixes``: generator -> the OSC address that moves its channels, named in the line (``{part}``
    is replaced by the part's name).
    """
    users: dict[int, list[tuple[str, str]]] = {}
    for gen, parts in channels.items():
        for part, ch in parts.items():
            users.setdefault(int(ch), []).append((gen, gen if part == gen else f"{gen} {part}"))
    lines = []
    for ch, who in sorted(users.items()):
        gens = sorted({g for g, _ in who})
        if len(gens) > 1:
            moves = sorted({fixes[g].format(part=w.split(" ", 1)[-1]) for g, w in who if fixes and g in fixes})
            fix = f" (set {' or '.join(moves)})" if moves else ""
            lines.append(f"MIDI channel {ch} is shared by {' and '.join(w for _, w in who)}: one's "
                         f"note-off cuts the other's notes{fix}")
    return lines


@dataclass
class Slot:
    """A loaded generator and its playing state (guarded by ``lock``, except ``gen``: worker only)."""

    name: str
    cls: type[Generator]
    plugin: str
    gen: Generator
    lock: threading.Lock = field(default_factory=threading.Lock)
    commands: "queue.Queue[tuple]" = field(default_factory=queue.Queue)
    thread: threading.Thread | None = None
    playing: bool = False
    cursor: float = 0.0             # beat where the next phrase starts
    grid: float = 0.0               # beat offset of this slot's bar grid (0 unless launched unquantized)
    stop_at: float | None = None    # hand-over beat: nothing of this slot plays from here
    epoch: int = 0                  # bumped by stop/swap: results computed before it are dropped
    pending: deque = field(default_factory=deque)   # phrases from an action, played before new ones
    cue: Phrase | None = None       # the next phrase, made while idle
    made: deque = field(default_factory=deque)      # the rest of what next_phrase() returned (worker only)
    prepared: threading.Event = field(default_factory=threading.Event)
    error: str | None = None
    phrases: int = 0
    voiced: bool = False            # the transport knows this generator's voices (see Generator.voices)
    reloading: bool = False         # a reload is being built (guarded by Host._reload_lock)
    reload_again: bool = False      # requests that came during it: one more reload when it ends
    reloads: int = 0                # reloads swapped in
    seeds: deque = field(default_factory=deque)     # (start beat, seed) of scheduled phrases that carry one


class Host:
    """Loads generators, runs their workers, and turns OSC/MIDI commands into transport calls."""

    def __init__(self, generators: dict[str, type[Generator]], clock, transport, *,
                 plugin_of: Callable[[str], str] = lambda name: "?", provider: str | None = None,
                 models_dir: Path | None = None, lookahead: float | None = None, quantize: float | None = None,
                 recent_input: Callable[[float], list] | None = None, on_error: ErrorSink | None = None,
                 on_progress: Callable[[str, float], None] | None = None,
                 on_info: Callable[[str, str], None] | None = None,
                 on_send: Callable[[str, tuple], None] | None = None,
                 midi_input: Callable[[], str | None] | None = None,
                 defaults: dict[str, dict[str, Any]] | None = None):
        self.classes = dict(generators)
        self.clock = clock
        self.played = PlayedNotes(clock.now)
        self.transport = self.played.tap(transport)   # remembers what is played, for generators that listen
        self.plugin_of = plugin_of
        self.provider = provider
        self.models_dir = models_dir
        self.lookahead = float(clock.beats_per_bar if lookahead is None else lookahead)
        self.quantize = float(clock.beats_per_bar if quantize is None else quantize)
        self.recent_input = recent_input or (lambda beats: [])
        self.on_error = on_error or (lambda address, reason: None)
        self.on_progress = on_progress or (lambda task, fraction: None)
        self.on_info = on_info or (lambda generator, text: log.info("%s: %s", generator, text))
        self.on_send = on_send or (lambda address, args: None)
        self.midi_input = midi_input or (lambda: None)
        self.defaults = defaults or {}
        self.slots: dict[str, Slot] = {}
        self._closing = threading.Event()
        self._reload_lock = threading.Lock()
        self._reloaders: list[threading.Thread] = []
        self._warned: dict[str, float] = {}   # channel clash line -> monotonic seconds it was last said
        self._warn_lock = threading.Lock()

    # -- loading -----------------------------------------------------------
    def _models_root(self) -> Path:
        if self.models_dir is not None:
            return Path(self.models_dir)
        from .runtime import default_models_dir

        return default_models_dir()

    def _build(self, name: str) -> Generator:
        """A new instance of generator ``name`` with its models loaded (PluginError naming the plugin)."""
        cls = self.classes[name]
        plugin = self.plugin_of(name)
        bundles = {}
        expect = getattr(cls, "model_expect", {}) or {}
        for folder in cls.models:
            from .runtime import ModelBundle

            try:
                bundles[folder] = ModelBundle.load(self._models_root() / folder, self.provider,
                                                   expect=expect.get(folder))
            except ModelError as e:
                raise PluginError(f"plugin {plugin}: generator {name}: {e}") from None
        context = GeneratorContext(
            beats_per_bar=self.clock.beats_per_bar, tempo=lambda: self.clock.bpm,
            recent_input=self.recent_input, now=self.clock.now, played=self.played.between,
            progress=lambda task, fraction: self.on_progress(f"{name}/{task}", fraction),
            report=lambda text: self.on_info(name, text),
            send=lambda message, *args: self._send(cls, message, args), midi_input=self.midi_input)
        try:
            return cls(models=bundles, context=context)
        except BridgeError as e:
            raise PluginError(f"plugin {plugin}: generator {name}: {e}") from None
        except Exception as e:
            raise PluginError(f"plugin {plugin}: generator {name} failed to start ({type(e).__name__}: {e})") \
                from None

    def _send(self, cls: type[Generator], message: str, args: tuple) -> None:
        """``context.send``: a declared message of ``cls`` -> ``on_send('/cmt/<gen>/<message>', args)``."""
        if message not in {m.name for m in cls.messages}:
            raise PluginError(f"{cls.name} sends {message!r}, which it does not declare in messages")
        self.on_send(f"/cmt/{cls.name}/{message}", args)

    def load(self) -> list[str]:
        """Build every generator and start its worker; returns one error line per generator that failed."""
        errors = []
        for gen_name in self.defaults:
            if gen_name not in self.classes:
                log.warning("config has defaults for %s, which is not loaded", gen_name)
        for name in sorted(self.classes):
            try:
                gen = self._build(name)
                for p, v in self.defaults.get(name, {}).items():
                    gen.set(p, v)
            except ConfigError as e:
                raise ConfigError(f"defaults for {name}: {e}") from None
            except PluginError as e:
                errors.append(str(e))
                log.debug("%s", e)
                continue
            slot = Slot(name, self.classes[name], self.plugin_of(name), gen)
            slot.thread = threading.Thread(target=self._work, args=(slot,), name=f"cmt-gen-{name}", daemon=True)
            self.slots[name] = slot
            slot.thread.start()
        return errors

    @property
    def names(self) -> list[str]:
        return sorted(self.slots)

    def slot(self, name: str) -> Slot:
        try:
            return self.slots[name]
        except KeyError:
            raise ConfigError(f"no generator {name!r} (have: {', '.join(self.names) or 'none'})") from None

    def wait_prepared(self, timeout: float = 10.0) -> bool:
        return all(s.prepared.wait(timeout) for s in self.slots.values())

    # -- beats -------------------------------------------------------------
    def launch_beat(self) -> float:
        """The beat the next launch, action result or hot-swap takes effect on."""
        now = self.clock.now()
        if self.quantize <= 0:
            return now + LAUNCH_MARGIN_S * self.clock.bpm / 60.0
        q = self.quantize
        return math.ceil((now + 1e-6) / q - 1e-9) * q

    def _next_start(self, slot: Slot, beat: float) -> float:
        """The first bar line of the slot's grid at or after ``beat``."""
        bar = float(self.clock.beats_per_bar)
        return slot.grid + math.ceil((beat - slot.grid) / bar - 1e-9) * bar

    # -- commands (any thread) --------------------------------------------
    def play(self, name: str, replace: str = "") -> float:
        """Start ``name`` at the next launch beat (returned); ``replace`` hands over from others there."""
        slot = self.slot(name)
        if replace and replace != "*":
            self.slot(replace)
        beat = self.launch_beat()
        with slot.lock:
            if slot.playing and slot.stop_at is None:
                return slot.cursor
            slot.playing, slot.stop_at, slot.error = True, None, None
            slot.cursor = beat
            slot.grid = beat % self.clock.beats_per_bar if self.quantize <= 0 else 0.0
            slot.epoch += 1
        slot.commands.put(("wake",))
        others = [s for s in self.slots.values() if s is not slot and (replace == "*" or s.name == replace)]
        for other in others:
            self._hand_over(other, beat)
        log.info("play %s from beat %.2f%s", name, beat, f" replacing {replace}" if replace else "")
        slot.commands.put(("check", "/cmt/play"))   # on the worker: after the parameters set before the play
        return beat

    def channels(self, name: str) -> dict[str, int]:
        """``{part: channel 1..16}`` of generator ``name`` now ({} when it cannot say)."""
        try:
            return dict(self.slot(name).gen.channels())
        except Exception as e:   # a plugin's channels() that raises must not stop a launch
            log.debug("%s.channels() failed: %s", name, e)
            return {}

    def check_channels(self, address: str) -> list[str]:
        """Warn (log + ``on_error(address, ...)``) about each channel two playing generators share."""
        playing = {}
        for n, s in sorted(self.slots.items()):
            with s.lock:
                if s.playing and s.stop_at is None:
                    playing[n] = self.channels(n)
        fixes = {}
        for n in playing:
            names = [p.name for p in self.slots[n].cls.params if moves_channels(p.name)]
            if "channel" in names:
                fixes[n] = f"/cmt/{n}/channel"
            elif names:
                fixes[n] = f"/cmt/{n}/{{part}}_channel"
        lines = shared_channels(playing, fixes)
        now = time.monotonic()
        with self._warn_lock:
            fresh = [ln for ln in lines if now - self._warned.get(ln, -1e9) > WARN_AGAIN_S]
            self._warned.update((ln, now) for ln in fresh)
        for line in fresh:   # two generators launched together find the same clash: said once
            self.on_error(address, f"warning: {line}")
        return lines

    def _hand_over(self, slot: Slot, beat: float) -> None:
        with slot.lock:
            if not slot.playing:
                return
            slot.stop_at = beat
            self.transport.cancel(slot.name, beat)
            _drop_seeds(slot, beat)
            if slot.cursor >= beat:
                slot.playing = False
                slot.stop_at = None
                slot.epoch += 1

    def stop(self, name: str | None = None) -> None:
        """Stop ``name`` (None: all) now: queued notes dropped, sounding notes get their note-off."""
        for slot in [self.slot(name)] if name else list(self.slots.values()):
            with slot.lock:
                slot.playing, slot.stop_at = False, None
                slot.pending.clear()
                slot.epoch += 1
                self.transport.stop(slot.name)
                _drop_seeds(slot, self.clock.now())
        if not name:
            self.transport.stop(None)

    def panic(self) -> None:
        for slot in self.slots.values():
            with slot.lock:
                slot.playing, slot.stop_at = False, None
                slot.pending.clear()
                slot.epoch += 1
        self.transport.panic()

    def set_tempo(self, bpm: float) -> None:
        self.clock.set_tempo(bpm)

    def sync(self, beat: float, bpm: float = 0.0) -> float:
        """Follow a DAW's song position (beats) and tempo (0 = keep ours); -> the phase shift in beats."""
        if bpm and not 20.0 <= bpm <= 300.0:
            raise ConfigError(f"bpm must be 0 (keep) or in range 20..300, got {bpm}")
        return self.clock.align(beat, bpm or None)

    def set_param(self, name: str, param: str, value: Any, *, checked: bool = False) -> Any:
        """Validate now (ConfigError; skipped when ``checked`` upstream), apply on the worker before
        its next phrase."""
        slot = self.slot(name)
        v = value if checked else slot.gen.param(param).coerce(value)
        slot.commands.put(("set", param, v))
        return v

    def perform(self, name: str, action: str, args: list[Any], *, checked: bool = False) -> None:
        """Bind ``args`` against the action's Params now (ConfigError; skipped when ``checked``
        upstream) and run it on the worker."""
        slot = self.slot(name)
        spec = slot.cls.action(action)
        slot.commands.put(("perform", action, list(args) if checked else spec.bind(args)))

    def reload(self, name: str | None = None) -> None:
        """Reload models in the background and swap them in after the phrase already queued (errors reported).

        Coalesced: at most one reload per generator is being built; requests that come
        meanwhile merge into one more reload after it (a storm of 200 is 2 builds, not 200).
        """
        names = [name] if name else [s.name for s in self.slots.values() if s.playing] or self.names
        slots = [self.slot(n) for n in names]
        if self._closing.is_set():
            return
        for slot in slots:
            with self._reload_lock:
                if slot.reloading:
                    slot.reload_again = True
                    continue
                slot.reloading = True
                self._reloaders = [t for t in self._reloaders if t.is_alive()]
                t = threading.Thread(target=self._reload, args=(slot,), name=f"cmt-reload-{slot.name}", daemon=True)
                self._reloaders.append(t)
            t.start()

    def _reload(self, slot: Slot) -> None:
        while not self._closing.is_set():
            with self._reload_lock:
                slot.reload_again = False
            fresh = None
            try:
                fresh = self._build(slot.name)
                for p, v in dict(slot.gen.values).items():
                    fresh.apply(p, v)
                fresh.prepare()
            except Exception as e:
                reason = str(e) if isinstance(e, BridgeError) else f"{type(e).__name__}: {e}"
                log.error("reload %s failed: %s", slot.name, reason)
                self.on_error(f"/cmt/{slot.name}", f"reload failed, still playing the old one: {reason}")
                _close_generator(fresh)
                fresh = None
            if fresh is not None:
                if self._closing.is_set():
                    _close_generator(fresh)
                else:
                    slot.commands.put(("swap", fresh))
            with self._reload_lock:
                if not slot.reload_again or self._closing.is_set():
                    slot.reloading = False
                    return

    def status(self) -> dict:
        gens = {}
        for name, slot in sorted(self.slots.items()):
            gens[name] = {"playing": slot.playing, "plugin": slot.plugin, "params": dict(slot.gen.values),
                          "channels": self.channels(name),
                          "error": slot.error, "phrases": slot.phrases, "ready": slot.prepared.is_set(),
                          "reloads": slot.reloads}
            try:
                state = slot.gen.state()
            except Exception as e:
                log.debug("%s.state() failed: %s", name, e)
                state = {}
            seed = self._seed_now(slot)
            if seed is not None:      # the seed of the phrase now playing: set it to make that phrase again
                gens[name]["seed"] = seed
            for k, v in (state or {}).items():
                gens[name].setdefault(str(k), v)
            if slot.reloading:
                gens[name]["reloading"] = True
        return {"tempo": round(self.clock.bpm, 3), "beat": round(self.clock.now(), 3),
                "beats_per_bar": self.clock.beats_per_bar,
                "playing": [n for n, s in sorted(self.slots.items()) if s.playing], "generators": gens}

    def _seed_now(self, slot: Slot) -> int | None:
        """The seed of ``slot``'s phrase now playing (or last played), None when its phrases carry none."""
        now = self.clock.now() + 1e-6
        with slot.lock:
            while len(slot.seeds) > 1 and slot.seeds[1][0] <= now:
                slot.seeds.popleft()           # older than the phrase now playing
            if slot.seeds and slot.seeds[0][0] <= now:
                return slot.seeds[0][1]
            return None

    def close(self, timeout: float = 2.0) -> None:
        """Stop every worker and reload, then close the generators and their onnxruntime sessions, in
        that order (a session torn down under a running thread aborts the process); ``timeout`` is the
        seconds all threads together may take. The transport is closed by its owner."""
        self._closing.set()
        for slot in self.slots.values():
            with slot.lock:
                slot.playing = False
                slot.epoch += 1
            slot.commands.put(("wake",))
        end = time.monotonic() + timeout
        for t in list(self._reloaders):
            t.join(max(0.0, end - time.monotonic()))
        for slot in self.slots.values():
            if slot.thread:
                slot.thread.join(max(0.0, end - time.monotonic()))
            if slot.thread and slot.thread.is_alive():
                log.warning("generator %s is still busy; leaving its thread", slot.name)
                continue
            while True:       # a swap that arrived after the worker ended: close the fresh one too
                try:
                    cmd = slot.commands.get_nowait()
                except queue.Empty:
                    break
                if cmd[0] == "swap":
                    _close_generator(cmd[1])
            _close_generator(slot.gen)

    def busy(self) -> list[str]:
        """Threads of this host still running (after close: workers or reloads stuck in inference)."""
        threads = [s.thread for s in self.slots.values() if s.thread] + self._reloaders
        return [t.name for t in threads if t.is_alive()]

    # -- the worker ----------------------------------------------------------
    def _fail(self, slot: Slot, exc: BaseException, address: str | None = None, stop: bool = True) -> None:
        reason = str(exc) if isinstance(exc, BridgeError) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, BridgeError):
            log.error("generator %s (plugin %s) raised", slot.name, slot.plugin, exc_info=exc)
        if stop:
            with slot.lock:
                slot.playing, slot.stop_at = False, None
                slot.pending.clear()
                slot.cue = None
                slot.epoch += 1
                slot.error = reason
                self.transport.cancel(slot.name, self.clock.now())
                _drop_seeds(slot, self.clock.now())
            slot.made.clear()
            reason = f"{slot.name} stopped: {reason}"
        self.on_error(address or f"/cmt/{slot.name}", reason)

    def _wait_s(self, slot: Slot) -> float | None:
        with slot.lock:
            if slot.playing:
                due = self.clock.time_at(slot.cursor - self.lookahead)
                return min(MAX_WAIT_S, max(0.0, due - time.monotonic()))
            if slot.cue is None and slot.error is None:
                return 0.0
        return None

    def _work(self, slot: Slot) -> None:
        try:
            slot.gen.prepare()
        except Exception as e:
            self._fail(slot, e)
        finally:
            slot.prepared.set()
        while not self._closing.is_set():
            wait = self._wait_s(slot)
            try:
                cmd = slot.commands.get(timeout=wait) if wait != 0.0 else slot.commands.get_nowait()
            except queue.Empty:
                cmd = None
            if self._closing.is_set():
                return
            if cmd is not None:
                self._command(slot, cmd)
                continue
            with slot.lock:
                playing = slot.playing
            try:
                if playing:
                    self._produce(slot)
                elif slot.cue is None and slot.error is None:
                    with slot.lock:
                        epoch = slot.epoch
                    phrase = self._phrase(slot)
                    with slot.lock:
                        if slot.epoch == epoch and slot.cue is None:
                            slot.cue = phrase
            except Exception as e:
                self._fail(slot, e)

    def _phrase(self, slot: Slot) -> Phrase:
        """The next phrase: the rest of the generator's last batch, else a new ``next_phrase()``."""
        if slot.made:
            return slot.made.popleft()
        made = slot.gen.next_phrase()
        batch = list(made) if isinstance(made, (list, tuple)) else [made]
        bad = [p for p in batch if not isinstance(p, Phrase)]
        if bad or not batch:
            raise PluginError(f"plugin {slot.plugin}: {slot.name}.next_phrase() returned "
                              f"{type(bad[0] if bad else made).__name__}, not a Phrase or a list of them")
        slot.made.extend(batch[1:])
        return batch[0]

    def _command(self, slot: Slot, cmd: tuple) -> None:
        kind = cmd[0]
        if kind == "set":
            try:
                slot.gen.apply(cmd[1], cmd[2])
            except Exception as e:
                self._fail(slot, e, f"/cmt/{slot.name}/{cmd[1]}", stop=not isinstance(e, BridgeError))
            slot.made.clear()   # made before the change: the next phrase follows the new value
            with slot.lock:
                slot.cue = None
                playing = slot.playing
                if moves_channels(cmd[1]):
                    slot.voiced = False     # the recording learns the new channels' instruments
            if playing and moves_channels(cmd[1]):
                self.check_channels(f"/cmt/{slot.name}/{cmd[1]}")
        elif kind == "perform":
            try:
                phrases = slot.gen.run_action(cmd[1], cmd[2])
            except OSError as e:    # a path the OS refuses (too long, a folder, no permission): bad input
                self._fail(slot, InputError(os_reason(e)), f"/cmt/{slot.name}/{cmd[1]}", stop=False)
                return
            except Exception as e:
                self._fail(slot, e, f"/cmt/{slot.name}/{cmd[1]}", stop=not isinstance(e, BridgeError))
                return
            if phrases:
                bad = [p for p in phrases if not isinstance(p, Phrase)]
                if bad:
                    self._fail(slot, PluginError(f"{slot.name}.action_{cmd[1]}() returned a non-Phrase"))
                    return
                slot.made.clear()
                self._replace(slot, list(phrases))
        elif kind == "check":
            self.check_channels(cmd[1])
        elif kind == "swap":
            # the fresh instance makes the phrase after the one already queued: nothing is cancelled, so
            # no phrase is skipped and no gap opens; queued action results (slot.pending) still play.
            # The old instance's unplayed batch (slot.made) goes: the fresh model makes what follows.
            old, fresh = slot.gen, cmd[1]
            slot.made.clear()
            for p, v in old.values.items():   # parameters set while the fresh one was being built
                if fresh.values.get(p) != v:
                    try:
                        fresh.set(p, v)
                    except Exception as e:
                        self._fail(slot, e, f"/cmt/{slot.name}/{p}", stop=False)
            with slot.lock:
                slot.gen = fresh
                slot.voiced = False
                slot.reloads += 1
            if _close_generator(old):
                from .runtime import release_memory

                release_memory()
            log.info("%s hot-swapped", slot.name)

    def _replace(self, slot: Slot, phrases: list[Phrase]) -> None:
        beat = self.launch_beat()
        with slot.lock:
            if slot.playing:
                beat = max(beat, self._next_start(slot, beat)) if self.quantize > 0 else beat
                self.transport.cancel(slot.name, beat)
                _drop_seeds(slot, beat)
            else:
                slot.grid = beat % self.clock.beats_per_bar if self.quantize <= 0 else 0.0
                slot.playing, slot.error = True, None
            slot.stop_at = None
            slot.cursor = beat
            slot.pending = deque(phrases)
            slot.epoch += 1

    def _produce(self, slot: Slot) -> None:
        """Schedule the next phrase if it starts within the lookahead."""
        now = self.clock.now()
        with slot.lock:
            if not slot.playing or slot.cursor > now + self.lookahead:
                return
            epoch = slot.epoch
            made = slot.pending.popleft() if slot.pending else slot.cue
            if made is slot.cue:
                slot.cue = None
        phrase = made if made is not None else self._phrase(slot)
        with slot.lock:
            if slot.epoch != epoch or not slot.playing:
                if made is None and slot.cue is None:
                    slot.cue = phrase       # made for nothing: keep it for the next launch
                return
            now = self.clock.now()
            if slot.cursor < now - LATE_TOLERANCE:
                late = now - slot.cursor
                slot.cursor = self._next_start(slot, self.launch_beat())
                log.warning("%s: phrase ready %.2f beats late (inference slower than the lookahead); "
                            "playing it from beat %.2f", slot.name, late, slot.cursor)
            start = slot.cursor
            notes = [n for n in phrase.notes if slot.stop_at is None or start + n.start < slot.stop_at]
            if notes:
                if not slot.voiced:   # once per generator instance: its instruments, for the recording
                    slot.voiced = True
                    voices = slot.gen.voice_map()
                    if voices:
                        self.transport.voices(slot.name, voices)
                seed = phrase.meta.get("seed")
                marked = isinstance(seed, int) and not isinstance(seed, bool)
                # the seed goes into the recording at the phrase's start (the text `midime sample` writes)
                self.transport.schedule(slot.name, notes, start, text=f"seed {seed}" if marked else "")
                if marked:
                    slot.seeds.append((start, seed))
            slot.phrases += 1
            slot.cursor = self._next_start(slot, start + phrase.length)
            if slot.stop_at is not None and slot.cursor >= slot.stop_at:
                slot.playing, slot.stop_at = False, None


def _drop_seeds(slot: Slot, from_beat: float) -> None:
    """Forget the seeds of phrases cancelled from ``from_beat`` on (caller holds ``slot.lock``)."""
    while slot.seeds and slot.seeds[-1][0] >= from_beat - 1e-9:
        slot.seeds.pop()


def _close_generator(gen: Generator | None) -> int:
    """``gen.close()``, then release its onnxruntime sessions; returns how many model bundles were closed."""
    if gen is None:
        return 0
    try:
        gen.close()
    except Exception:
        log.exception("closing %s failed", gen.name)
    closed = 0
    for bundle in getattr(gen, "bundles", {}).values():
        close = getattr(bundle, "close", None)
        if close is not None:
            close()
            closed += 1
    return closed
