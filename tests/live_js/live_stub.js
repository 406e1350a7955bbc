// A stub of the parts of Live's object model that max_patches/live/cmt_clips.js touches, for node.
//
// Song (live_set) -> tracks -> clip_slots -> clip; this_device -> canonical_parent (a Track, or a Chain
// inside a rack); live_set view detail_clip / highlighted_clip_slot; live_app get_major_version.
// LiveAPI objects are made from path strings as in Max ("live_set tracks 1 clip_slots 0 clip"); a path
// that leads nowhere gives id 0, as Live does. Calls Live would refuse (a clip into a full slot, an
// unknown function) throw, so a test fails loudly instead of passing by accident.
"use strict";

class Clip {
    constructor(length, notes) {
        this.type = "Clip";
        this.length = length;
        this.notes = (notes || []).map((n) => Object.assign({mute: 0}, n));
        this.name = "";
        this.legacy = null;             // the Live 10 set_notes protocol in progress
    }
}

class Model {
    constructor({tracks = 2, slots = 4, version = 11, deviceTrack = 1, inRack = false} = {}) {
        this.version = version;
        this.calls = [];
        this.song = {type: "Song", tracks: [], scenes: slots, view: {detail_clip: null, highlighted_clip_slot: null}};
        for (let t = 0; t < tracks; t++) {
            const track = {type: "Track", clip_slots: []};
            for (let s = 0; s < slots; s++) track.clip_slots.push({type: "ClipSlot", clip: null});
            this.song.tracks.push(track);
        }
        const track = this.song.tracks[deviceTrack];
        if (inRack) {
            const rack = {type: "RackDevice", canonical_parent: track};
            const chain = {type: "Chain", canonical_parent: rack};
            this.device = {type: "MaxDevice", canonical_parent: chain};
        } else {
            this.device = {type: "MaxDevice", canonical_parent: track};
        }
        this.app = {type: "Application"};
        this.ids = new Map();
    }

    track(i) { return this.song.tracks[i]; }

    pathOf(obj) {
        const song = this.song;
        if (obj === song) return "live_set";
        if (obj === this.app) return "live_app";
        for (let t = 0; t < song.tracks.length; t++) {
            const track = song.tracks[t];
            if (obj === track) return `live_set tracks ${t}`;
            for (let s = 0; s < track.clip_slots.length; s++) {
                const slot = track.clip_slots[s];
                if (obj === slot) return `live_set tracks ${t} clip_slots ${s}`;
                if (slot.clip && obj === slot.clip) return `live_set tracks ${t} clip_slots ${s} clip`;
            }
        }
        if (obj === this.device) return "this_device";
        let parent = this.device.canonical_parent;
        let path = "this_device canonical_parent";
        while (parent) {
            if (obj === parent) return path;
            parent = parent.canonical_parent;
            path += " canonical_parent";
        }
        throw new Error("stub: no path for " + obj.type);
    }

    resolve(path) {
        const words = String(path).trim().split(/\s+/);
        let obj = {live_set: this.song, live_app: this.app, this_device: this.device}[words[0]];
        for (let i = 1; obj && i < words.length; i++) {
            const w = words[i];
            let next = w === "view" ? obj.view : obj[w];
            if (Array.isArray(next)) {
                next = next[Number(words[++i])];
            }
            if (obj.type === "ClipSlot" && w === "clip") next = obj.clip;
            obj = next === undefined ? null : next;
        }
        return obj || null;
    }

    liveAPI() {
        const model = this;
        return class LiveAPI {
            constructor(path) {
                this.target = model.resolve(path);
                this.id = this.target ? model.idOf(this.target) : 0;
                this.type = this.target ? this.target.type : undefined;
                this.unquotedpath = this.target ? model.pathOf(this.target) : "";
                this.path = `"${this.unquotedpath}"`;
            }
            get(prop) {
                const o = this.need();
                if (o.type === "ClipSlot" && prop === "has_clip") return [o.clip ? 1 : 0];
                if (!(prop in o)) throw new Error(`stub: ${o.type} has no property ${prop}`);
                return [o[prop]];
            }
            set(prop, value) {
                this.need()[prop] = value;
            }
            getcount(list) {
                return this.need()[list].length;
            }
            call(fn, ...args) {
                const o = this.need();
                model.calls.push([o.type, fn, ...args]);
                return model.call(o, fn, args);
            }
            need() {
                if (!this.target) throw new Error("stub: LiveAPI on a path that leads nowhere (id 0)");
                return this.target;
            }
        };
    }

    idOf(obj) {
        if (!this.ids.has(obj)) this.ids.set(obj, this.ids.size + 1);
        return this.ids.get(obj);
    }

    call(o, fn, args) {
        const key = `${o.type}.${fn}`;
        switch (key) {
            case "Application.get_major_version":
                return [this.version];
            case "Song.create_scene":
                this.song.scenes += 1;
                for (const t of this.song.tracks) t.clip_slots.push({type: "ClipSlot", clip: null});
                return undefined;
            case "ClipSlot.create_clip":
                if (o.clip) throw new Error("stub: create_clip on a slot that has a clip");
                if (!(args[0] > 0)) throw new Error("stub: create_clip needs a positive length");
                o.clip = new Clip(Number(args[0]));
                return undefined;
            case "Clip.add_new_notes":
                if (this.version < 11) throw new Error("stub: add_new_notes needs Live 11");
                for (const n of args[0].notes) {
                    for (const k of ["pitch", "start_time", "duration", "velocity"]) {
                        if (typeof n[k] !== "number") throw new Error(`stub: note ${k} must be a number`);
                    }
                    o.notes.push(Object.assign({mute: 0}, n));
                }
                return undefined;
            case "Clip.get_notes_extended": {
                if (this.version < 11) throw new Error("stub: get_notes_extended needs Live 11");
                const [fromPitch, pitchSpan, fromTime, timeSpan] = args.map(Number);
                const notes = o.notes.filter((n) => n.pitch >= fromPitch && n.pitch < fromPitch + pitchSpan &&
                    n.start_time >= fromTime && n.start_time < fromTime + timeSpan)
                    .map((n, i) => Object.assign({note_id: i + 1}, n));
                return JSON.stringify({notes});
            }
            case "Clip.get_notes": {
                const [fromTime, fromPitch, timeSpan, pitchSpan] = args.map(Number);
                const notes = o.notes.filter((n) => n.pitch >= fromPitch && n.pitch < fromPitch + pitchSpan &&
                    n.start_time >= fromTime && n.start_time < fromTime + timeSpan);
                const flat = ["notes", notes.length];
                for (const n of notes) flat.push("note", n.pitch, n.start_time, n.duration, n.velocity, n.mute);
                flat.push("done");
                return flat;
            }
            case "Clip.set_notes":
                o.legacy = {expected: null, notes: []};
                return undefined;
            case "Clip.notes":
                if (!o.legacy) throw new Error("stub: notes before set_notes");
                o.legacy.expected = Number(args[0]);
                return undefined;
            case "Clip.note": {
                if (!o.legacy || o.legacy.expected === null) throw new Error("stub: note before notes");
                const [pitch, start, duration, velocity, mute] = args.map(Number);
                o.legacy.notes.push({pitch, start_time: start, duration, velocity, mute});
                return undefined;
            }
            case "Clip.done":
                if (!o.legacy || o.legacy.notes.length !== o.legacy.expected) {
                    throw new Error("stub: done with a note count that does not match `notes`");
                }
                o.notes.push(...o.legacy.notes);
                o.legacy = null;
                return undefined;
            default:
                throw new Error(`stub: Live has no function ${key}`);
        }
    }
}

module.exports = {Clip, Model};
