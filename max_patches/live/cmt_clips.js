// cmt_clips.js -- the Live side of a cmt-bridge Max for Live device (clips in, clips out, Live's transport).
//
// Loaded by [js cmt_clips.js <generator> <sample-action|-> <learn-action|->] in every device that
// max_patches/make_patches.py writes to max_patches/live/. Plain ES5: Max's [js] runs an old
// JavaScript engine (no let/const, no arrow functions), and tests/live_js/test_cmt_clips.js runs this
// same file under node against a stub of the Live object model (LiveAPI, outlet, Task).
//
// Inlet messages (from the device patch):
//   transport <bar> <beat> <bpm> <playing> <ticks>  Live's transport, ~10 times a second ([metro] -> [transport])
//   timesig <numerator> <denominator>         Live's time signature
//   follow <0|1>                              Live's play/stop starts/stops the generator
//   bars <n>                                  length of a generated clip, in bars
//   beat <n>  note <gen> <pitch> <vel> <ms> <ch>  hosterror <address> <reason>  progress <task> <fraction>
//   info <gen> <text>                         the bridge's replies (/cmt/beat, /cmt/note, ...)
//   generate                                  record the next <bars> bars the generator plays into a new clip
//   learnclip                                 learn-action learn_notes: send the selected clip's notes as
//                                             JSON (/cmt/<gen>/learn_notes); learn: play them out of the
//                                             device, then send /cmt/<gen>/learn <bars> (needs MIDI routing)
// Outlets: 0 = OSC messages for [udpsend] (/cmt/tempo, /cmt/play, ...); 1 = status lines
// ("position|error|status <text>") for the device's display; 2 = MIDI bytes for [midiout].

inlets = 1;
outlets = 3;

var TEMPO_MIN = 20;         // /cmt/tempo's range in `cmt-bridge osc-schema`
var TEMPO_MAX = 300;
var TICKS_PER_BEAT = 480;   // [transport]'s resolution: ticks per quarter note
var GRID = 0.25;            // beats: generated notes snap to sixteenths
var MIN_BARS = 1;
var MAX_BARS = 64;
var LEARN_MIN_BARS = 2;     // MidiMe learns from an even number of bars, 2..16
var LEARN_MAX_BARS = 16;

var args = (typeof jsarguments !== "undefined") ? jsarguments : [];
var state = {};

function reset(gen, sampleAction, learnAction) {
    state = {
        gen: String(gen || "midime"),
        sampleAction: sampleAction && sampleAction !== "-" ? String(sampleAction) : "",
        learnAction: learnAction && learnAction !== "-" ? String(learnAction) : "",
        follow: 1, bars: 4, beatsPerBar: 4, bpm: 120, sentBpm: -1, playing: -1,
        hostBeat: -1, hostBeatAt: 0,      // the last /cmt/beat and when it came (ms)
        capture: null                      // {start, end, notes} in host beats while generating
    };
}
reset(args[1], args[2], args[3]);

// -- injectable clock and scheduler (Max: Date and Task; the node test replaces them) -----------
var clock = function () { return new Date().getTime(); };
var schedule = function (fn, delayMs) {
    var task = new Task(fn);
    task.schedule(delayMs);
    return task;
};

function send() {
    outlet(0, Array.prototype.slice.call(arguments));
}

function show(kind, text) {
    outlet(1, [kind, text]);
}

function log(text) {
    if (typeof post === "function") { post("cmt_clips: " + text + "\n"); }
}

// -- Live's transport -> the bridge -------------------------------------------------------------
function transport(bar, beat, bpm, playing, ticks) {
    state.bpm = bpm > 0 ? bpm : state.bpm;
    var clamped = Math.max(TEMPO_MIN, Math.min(TEMPO_MAX, state.bpm));
    if (Math.abs(clamped - state.sentBpm) > 0.005) {
        state.sentBpm = clamped;
        send("/cmt/tempo", clamped);
    }
    var on = playing ? 1 : 0;
    if (on !== state.playing) {
        var first = state.playing === -1;
        state.playing = on;
        if (state.follow && !(first && !on)) {       // a device loaded while Live is stopped stops nothing
            if (on) { send("/cmt/play", state.gen); } else { send("/cmt/stop", state.gen); }
        }
    }
    if (on && state.follow && ticks !== undefined && ticks >= 0) {
        // Live's song position in beats: the bridge moves its bar phase onto it (dead band 0.02 beat)
        send("/cmt/sync", ticks / TICKS_PER_BEAT, clamped);
    }
    show("position", "Live " + bar + "." + beat + (state.hostBeat >= 0 ? "  host beat " + state.hostBeat : ""));
    checkCapture();
}

function timesig(numerator, denominator) {
    if (numerator > 0 && denominator > 0) { state.beatsPerBar = numerator * 4 / denominator; }
}

function follow(on) { state.follow = on ? 1 : 0; }

function bars(n) { state.bars = Math.max(MIN_BARS, Math.min(MAX_BARS, Math.round(n))); }

// -- the bridge's replies ------------------------------------------------------------------------
function beat(n) {
    state.hostBeat = n;
    state.hostBeatAt = clock();
    checkCapture();
}

function hostPosition() {
    // beats on the host's clock, between /cmt/beat messages interpolated at the tempo
    if (state.hostBeat < 0) { return -1; }
    return state.hostBeat + (clock() - state.hostBeatAt) * state.bpm / 60000;
}

function note(gen, pitch, velocity, durationMs, channel) {
    var c = state.capture;
    if (!c || String(gen) !== state.gen) { return; }
    var at = hostPosition();
    if (c.start < 0) {                               // the host's clock is not ticking: start at this note
        c.start = at >= 0 ? at : 0;
        c.startMs = clock();
        c.end = c.start + c.length;
    }
    var pos = at >= 0 ? at : (clock() - c.startMs) * state.bpm / 60000;
    var start = snap(pos - c.start);
    if (start < 0 || start >= c.length) { return; }
    var duration = Math.max(GRID, snap(durationMs * state.bpm / 60000));
    c.notes.push({pitch: pitch, start_time: start, duration: Math.min(duration, c.length - start),
                  velocity: velocity, mute: 0});
}

function hosterror(address, reason) {   // not `error`: Max's js has a global error()
    show("error", String(address) + " " + Array.prototype.slice.call(arguments, 1).join(" "));
}

function progress(task, fraction) {
    show("status", String(task) + " " + Math.round(100 * fraction) + "%");
}

function info(gen) {
    if (String(gen) === state.gen) { show("status", Array.prototype.slice.call(arguments, 1).join(" ")); }
}

function snap(beats) {
    return Math.round(beats / GRID) * GRID;
}

// -- Generate: the next bars the generator plays -> a new clip ----------------------------------
function generate() {
    var length = state.bars * state.beatsPerBar;
    var at = hostPosition();
    // the bridge launches at its next bar: capture from there (or from the first note without a clock)
    var start = at >= 0 ? Math.ceil((at - 1e-6) / state.beatsPerBar) * state.beatsPerBar : -1;
    state.capture = {start: start, end: start >= 0 ? start + length : -1, length: length, notes: [],
                     startMs: clock()};
    if (state.sampleAction) { send("/cmt/" + state.gen + "/" + state.sampleAction); }
    send("/cmt/play", state.gen);
    show("status", "generating " + state.bars + " bars...");
}

function checkCapture() {
    var c = state.capture;
    if (!c || c.start < 0) { return; }
    var at = hostPosition();
    var pos = at >= 0 ? at : c.start + (clock() - c.startMs) * state.bpm / 60000;
    if (pos < c.end) { return; }
    state.capture = null;
    var slot = writeClip(c.notes, c.length, state.gen + " " + state.bars + " bars");
    show("status", slot < 0 ? "no clip written (see the Max window)"
        : c.notes.length + " notes -> clip slot " + (slot + 1));
}

function trackOf(device) {
    // this device's track: up canonical_parent until a Track (a device inside a rack sits in a chain)
    var api = new LiveAPI(device.unquotedpath + " canonical_parent");
    for (var i = 0; i < 8 && api.id != 0 && api.type !== "Track"; i++) {
        api = new LiveAPI(api.unquotedpath + " canonical_parent");
    }
    return api.type === "Track" ? api : null;
}

function liveMajorVersion() {
    var v = new LiveAPI("live_app").call("get_major_version");
    return Number(v instanceof Array ? v[0] : v) || 0;
}

function writeClip(notes, lengthBeats, name) {
    var track = trackOf(new LiveAPI("this_device"));
    if (!track) { log("this device is not on a track"); return -1; }
    var count = track.getcount("clip_slots");
    var index = -1;
    for (var i = 0; i < count && index < 0; i++) {
        var probe = new LiveAPI(track.unquotedpath + " clip_slots " + i);
        if (Number(probe.get("has_clip")) === 0) { index = i; }
    }
    if (index < 0) {                                  // every slot is full: a new scene at the end
        new LiveAPI("live_set").call("create_scene", -1);
        index = count;
    }
    var slot = new LiveAPI(track.unquotedpath + " clip_slots " + index);
    slot.call("create_clip", lengthBeats);
    var clip = new LiveAPI(track.unquotedpath + " clip_slots " + index + " clip");
    clip.set("name", name);
    if (notes.length) {
        if (liveMajorVersion() >= 11) {
            clip.call("add_new_notes", {notes: notes});
        } else {                                      // Live 10: the set_notes / notes / note / done protocol
            clip.call("set_notes");
            clip.call("notes", notes.length);
            for (var k = 0; k < notes.length; k++) {
                var n = notes[k];
                clip.call("note", n.pitch, n.start_time.toFixed(4), n.duration.toFixed(4), n.velocity, 0);
            }
            clip.call("done");
        }
    }
    return index;
}

// -- Learn from clip: the selected clip's notes -> the device's MIDI out -> the bridge's MIDI in ---
function selectedClip() {
    var clip = new LiveAPI("live_set view detail_clip");
    if (clip.id == 0) { clip = new LiveAPI("live_set view highlighted_clip_slot clip"); }
    return clip.id == 0 ? null : clip;
}

function readNotes(clip) {
    var length = Number(clip.get("length"));
    var notes = [];
    if (liveMajorVersion() >= 11) {
        var raw = clip.call("get_notes_extended", 0, 128, 0, length);
        var parsed = JSON.parse(raw instanceof Array ? raw.join(" ") : String(raw));
        for (var i = 0; i < parsed.notes.length; i++) {
            var e = parsed.notes[i];
            if (!e.mute) { notes.push({pitch: e.pitch, start_time: e.start_time, duration: e.duration,
                                       velocity: e.velocity}); }
        }
    } else {                                          // ["notes", n, "note", p, s, d, v, m, ..., "done"]
        var flat = clip.call("get_notes", 0, 0, length, 128);
        for (var j = 0; j < flat.length; j++) {
            if (flat[j] === "note" && !Number(flat[j + 5])) {
                notes.push({pitch: Number(flat[j + 1]), start_time: Number(flat[j + 2]),
                            duration: Number(flat[j + 3]), velocity: Number(flat[j + 4])});
            }
        }
    }
    notes.sort(function (a, b) { return a.start_time - b.start_time || a.pitch - b.pitch; });
    return {notes: notes, length: length};
}

function learnclip() {
    if (!state.learnAction) { show("error", state.gen + " has no learn action"); return; }
    var clip = selectedClip();
    if (!clip) { show("error", "select a MIDI clip first"); return; }
    var read = readNotes(clip);
    if (!read.notes.length) { show("error", "the selected clip has no notes"); return; }
    if (state.learnAction === "learn_notes") {      // the notes themselves, as JSON: no MIDI routing, no waiting
        var rows = [];
        for (var r = 0; r < read.notes.length; r++) {
            var m = read.notes[r];
            rows.push([m.pitch, m.start_time, m.duration, Math.max(1, m.velocity)]);
        }
        send("/cmt/" + state.gen + "/learn_notes", JSON.stringify(rows));
        show("status", "learning from " + read.notes.length + " notes");
        return;
    }
    var clipBars = Math.ceil(read.length / state.beatsPerBar - 1e-6);
    var learnBars = Math.max(LEARN_MIN_BARS, Math.min(LEARN_MAX_BARS, clipBars + clipBars % 2));
    var msPerBeat = 60000 / state.bpm;
    var events = [];
    for (var i = 0; i < read.notes.length; i++) {
        var n = read.notes[i];
        events.push({ms: n.start_time * msPerBeat, bytes: [0x90, n.pitch, Math.max(1, n.velocity)]});
        events.push({ms: (n.start_time + n.duration) * msPerBeat - 1, bytes: [0x80, n.pitch, 0]});
    }
    events.sort(function (a, b) { return a.ms - b.ms || a.bytes[0] - b.bytes[0]; });
    var endMs = Math.max(read.length * msPerBeat, events[events.length - 1].ms) + 1;
    for (var k = 0; k < events.length; k++) {
        schedule(midiSender(events[k].bytes), events[k].ms);
    }
    schedule(function () {
        send("/cmt/" + state.gen + "/" + state.learnAction, learnBars);
        show("status", "learning from " + read.notes.length + " notes (" + learnBars + " bars)");
    }, endMs);
    show("status", "playing the clip into the bridge...");
}

function midiSender(bytes) {
    return function () { outlet(2, bytes); };
}

// -- node: the test harness reaches the internals ------------------------------------------------
if (typeof module !== "undefined" && module.exports) {
    module.exports = {
        reset: reset, transport: transport, timesig: timesig, follow: follow, bars: bars, beat: beat,
        note: note, hosterror: hosterror, progress: progress, info: info, generate: generate, learnclip: learnclip,
        writeClip: writeClip, readNotes: readNotes,
        state: function () { return state; },
        setClock: function (fn) { clock = fn; },
        setScheduler: function (fn) { schedule = fn; }
    };
}
