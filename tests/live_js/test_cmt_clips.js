// node tests/live_js/test_cmt_clips.js -- max_patches/live/cmt_clips.js against a stub of Live's objects.
//
// Plain node + assert (no npm packages). Each test loads a fresh copy of the script with Max's
// globals (jsarguments, outlet, post, LiveAPI) pointed at a stub model, a fake clock and a
// scheduler that only records. Prints one line per test; exits non-zero on the first failure.
"use strict";

const assert = require("assert");
const path = require("path");
const {Clip, Model} = require("./live_stub");

const SCRIPT = path.resolve(__dirname, "..", "..", "max_patches", "live", "cmt_clips.js");

function load(model, argv = ["cmt_clips.js", "midime", "sample", "learn"]) {
    const out = {osc: [], status: [], midi: [], scheduled: [], now: 0, posts: []};
    global.jsarguments = argv;
    global.outlet = (n, list) => { [out.osc, out.status, out.midi][n].push(list); };
    global.post = (text) => out.posts.push(text);
    global.LiveAPI = model.liveAPI();
    delete require.cache[SCRIPT];
    const js = require(SCRIPT);
    js.setClock(() => out.now);
    js.setScheduler((fn, ms) => out.scheduled.push({fn, ms}));
    return {js, out};
}

function runScheduled(out) {
    out.scheduled.sort((a, b) => a.ms - b.ms).forEach((e) => e.fn());
}

const tests = [];
function test(name, fn) { tests.push({name, fn}); }

// -- Live's transport -> /cmt/tempo, /cmt/play, /cmt/stop ----------------------------------------
test("tempo is forwarded once per change and clamped to the schema's 20..300", () => {
    const {js, out} = load(new Model());
    js.transport(1, 1, 128, 0);
    js.transport(1, 1, 128, 0);
    js.transport(1, 2, 350, 0);
    js.transport(1, 2, 12, 0);
    assert.deepStrictEqual(out.osc, [["/cmt/tempo", 128], ["/cmt/tempo", 300], ["/cmt/tempo", 20]]);
    assert.deepStrictEqual(out.status[0], ["position", "Live 1.1"]);
});

test("Live's play and stop start and stop the generator while Follow is on", () => {
    const {js, out} = load(new Model());
    js.transport(1, 1, 120, 0);              // loaded while stopped: no stop sent
    js.transport(1, 1, 120, 1);
    js.transport(2, 1, 120, 1);
    js.transport(2, 3, 120, 0);
    js.follow(0);
    js.transport(2, 3, 120, 1);
    assert.deepStrictEqual(out.osc, [["/cmt/tempo", 120], ["/cmt/play", "midime"], ["/cmt/stop", "midime"]]);
});

test("while Live plays and Follow is on, its song position goes to the bridge as /cmt/sync", () => {
    const {js, out} = load(new Model());
    js.transport(1, 1, 120, 0, 0);           // stopped: no position sent
    js.transport(3, 2, 120, 1, 4800 + 240);  // playing at tick 5040: beat 10.5
    js.follow(0);
    js.transport(3, 3, 120, 1, 5280);        // Follow off: the bridge keeps its own phase
    assert.deepStrictEqual(out.osc, [["/cmt/tempo", 120], ["/cmt/play", "midime"], ["/cmt/sync", 10.5, 120]]);
});

test("a device loaded while Live plays starts its generator", () => {
    const {js, out} = load(new Model(), ["cmt_clips.js", "cmt", "-", "-"]);
    js.transport(5, 2, 100, 1);
    assert.deepStrictEqual(out.osc, [["/cmt/tempo", 100], ["/cmt/play", "cmt"]]);
});

// -- Generate: /cmt/note over N bars -> the next empty clip slot ----------------------------------
function generateOneBar(model, argv) {
    const {js, out} = load(model, argv);
    js.transport(1, 1, 120, 1);              // 120 BPM: 500 ms a beat
    js.bars(1);
    out.now = 0;
    js.beat(5);                               // host at beat 5: the capture starts at its next bar, beat 8
    out.osc.length = 0;
    js.generate();
    out.now = 1000; js.beat(7);
    js.note("midime", 50, 90, 400, 1);        // beat 7: before the bar, ignored
    out.now = 1500; js.beat(8);
    js.note("midime", 60, 100, 250, 1);       // beat 8.0, 0.5 beat long
    js.note("cmt", 64, 100, 250, 1);          // another generator's note, ignored
    out.now = 2260;                           // beat 9.52 -> snaps to 9.5
    js.note("midime", 62, 80, 740, 1);        // 1.48 beats -> 1.5
    out.now = 3000; js.beat(11);
    js.note("midime", 67, 70, 2000, 1);       // beat 11, 4 beats long: cut at the clip's end
    return {js, out};
}

test("generate asks for phrases, plays, and writes the next bars into the first empty slot", () => {
    const model = new Model();
    model.track(1).clip_slots[0].clip = new Clip(8, [{pitch: 40, start_time: 0, duration: 1, velocity: 1}]);
    const {js, out} = generateOneBar(model);
    assert.deepStrictEqual(out.osc, [["/cmt/midime/sample"], ["/cmt/play", "midime"]]);
    assert.strictEqual(model.track(1).clip_slots[1].clip, null, "nothing written before the bar ends");
    out.now = 3500; js.beat(12);
    const clip = model.track(1).clip_slots[1].clip;
    assert.ok(clip, "a clip in slot 2 (slot 1 was taken)");
    assert.strictEqual(clip.length, 4);
    assert.strictEqual(clip.name, "midime 1 bars");
    assert.deepStrictEqual(clip.notes.map((n) => [n.pitch, n.start_time, n.duration, n.velocity]),
        [[60, 0, 0.5, 100], [62, 1.5, 1.5, 80], [67, 3, 1, 70]]);
    assert.strictEqual(model.track(0).clip_slots[0].clip, null, "the other track is untouched");
    assert.deepStrictEqual(out.status[out.status.length - 1], ["status", "3 notes -> clip slot 2"]);
    out.now = 6000; js.beat(20);
    assert.strictEqual(model.track(1).clip_slots[2].clip, null, "one clip per Generate");
});

test("Live 10: the notes go through set_notes / notes / note / done", () => {
    const model = new Model({version: 10});
    const {js, out} = generateOneBar(model);
    out.now = 3500; js.beat(12);
    const clip = model.track(1).clip_slots[0].clip;
    assert.deepStrictEqual(clip.notes.map((n) => [n.pitch, n.start_time, n.duration]),
        [[60, 0, 0.5], [62, 1.5, 1.5], [67, 3, 1]]);
    assert.ok(model.calls.some((c) => c[1] === "set_notes") && !model.calls.some((c) => c[1] === "add_new_notes"));
});

test("full track: a new scene is made and the clip goes into its slot", () => {
    const model = new Model({slots: 2});
    for (const slot of model.track(1).clip_slots) slot.clip = new Clip(4);
    const {js, out} = generateOneBar(model);
    out.now = 3500; js.beat(12);
    assert.strictEqual(model.song.scenes, 3);
    assert.strictEqual(model.track(1).clip_slots[2].clip.notes.length, 3);
});

test("a device inside a rack writes to the rack's track", () => {
    const model = new Model({inRack: true, deviceTrack: 0});
    const {js, out} = generateOneBar(model, ["cmt_clips.js", "midime", "-", "-"]);
    assert.deepStrictEqual(out.osc, [["/cmt/play", "midime"]], "no sample action: only play");
    out.now = 3500; js.beat(12);
    assert.strictEqual(model.track(0).clip_slots[0].clip.notes.length, 3);
});

test("without the host's beats the capture starts at the first note and ends by the clock", () => {
    const model = new Model();
    const {js, out} = load(model, ["cmt_clips.js", "cmt", "-", "-"]);
    js.transport(1, 1, 60, 1);                // 60 BPM: a beat a second
    js.bars(1);
    out.now = 10000;
    js.generate();
    out.now = 10700; js.note("cmt", 48, 100, 1000, 10);
    out.now = 12700; js.note("cmt", 50, 100, 1000, 10);
    out.now = 14000; js.transport(1, 4, 60, 1);
    assert.strictEqual(model.track(1).clip_slots[0].clip, null);
    out.now = 14800; js.transport(2, 1, 60, 1);
    const clip = model.track(1).clip_slots[0].clip;
    assert.deepStrictEqual(clip.notes.map((n) => [n.pitch, n.start_time, n.duration]), [[48, 0, 1], [50, 2, 1]]);
});

// -- Learn from clip: the selected clip -> MIDI out -> /cmt/midime/learn <bars> ------------------
function clipToLearn(model) {
    const clip = new Clip(12, [
        {pitch: 64, start_time: 1, duration: 0.5, velocity: 90},
        {pitch: 60, start_time: 0, duration: 1, velocity: 100},
        {pitch: 99, start_time: 2, duration: 1, velocity: 100, mute: 1},
    ]);
    model.track(0).clip_slots[3].clip = clip;
    model.song.view.detail_clip = clip;
    return clip;
}

for (const version of [11, 10]) {
    test(`learn from clip plays the clip's notes in time, then asks MidiMe to learn (Live ${version})`, () => {
        const model = new Model({version});
        clipToLearn(model);
        const {js, out} = load(model);
        js.transport(1, 1, 120, 0);
        out.osc.length = 0;
        js.learnclip();
        assert.deepStrictEqual(out.osc, [], "nothing sent before the notes are played");
        const times = out.scheduled.map((e) => e.ms);
        runScheduled(out);
        assert.deepStrictEqual(out.midi, [[0x90, 60, 100], [0x80, 60, 0], [0x90, 64, 90], [0x80, 64, 0]]);
        assert.deepStrictEqual(times.slice(0, 4), [0, 499, 500, 749]);
        assert.deepStrictEqual(out.osc, [["/cmt/midime/learn", 4]], "3 bars -> 4 (MidiMe learns even bars)");
        assert.ok(times[4] >= 6000, "learn is sent after the clip's 12 beats have played");
    });
}

test("learn from clip sends the clip's unmuted notes at once as JSON when the generator has learn_notes", () => {
    const model = new Model();
    clipToLearn(model);
    const {js, out} = load(model, ["cmt_clips.js", "midime", "sample", "learn_notes"]);
    js.learnclip();
    assert.deepStrictEqual(out.osc, [["/cmt/midime/learn_notes", "[[60,0,1,100],[64,1,0.5,90]]"]]);
    assert.deepStrictEqual(out.midi.concat(out.scheduled), [], "nothing played, nothing to wait for");
});

test("learn from clip with no clip selected, or a generator without learn, says so and sends nothing", () => {
    const model = new Model();
    let {js, out} = load(model);
    js.learnclip();
    assert.deepStrictEqual(out.status, [["error", "select a MIDI clip first"]]);
    clipToLearn(model);
    ({js, out} = load(model, ["cmt_clips.js", "cmt", "-", "-"]));
    js.learnclip();
    assert.deepStrictEqual(out.status, [["error", "cmt has no learn action"]]);
    assert.deepStrictEqual(out.osc.concat(out.midi, out.scheduled), []);
});

test("the bridge's errors, progress and news reach the status lines", () => {
    const {js, out} = load(new Model());
    js.hosterror("/cmt/midime/temperature", "temperature", "must", "be", "in", "range");
    js.progress("midime/learn", 0.4);
    js.info("midime", "phrase", "A", "captured");
    js.info("cmt", "video", "started");
    assert.deepStrictEqual(out.status, [
        ["error", "/cmt/midime/temperature temperature must be in range"],
        ["status", "midime/learn 40%"],
        ["status", "phrase A captured"],
    ]);
});

let failed = 0;
for (const t of tests) {
    try {
        t.fn();
        console.log(`ok - ${t.name}`);
    } catch (e) {
        failed += 1;
        console.log(`not ok - ${t.name}\n${e.stack}`);
    }
}
console.log(`${tests.length - failed}/${tests.length} passed`);
process.exit(failed ? 1 : 0);
