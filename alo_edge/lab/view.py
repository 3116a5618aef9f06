"""The lab's live view: a plain page per channel that plays it and talks back.

``GET /view/<channel>`` serves one HTML page (no build step, no library). Its script
offers the lab a WebRTC connection (``iceServers: []``, all candidates gathered, no
trickle: aiortc has none) with a receive-only video section and a sendrecv audio
section, POSTs it to ``/view/<channel>/offer`` and plays the answer's relayed tracks.
Holding the push-to-talk button puts the microphone on the audio sender; releasing it
takes it off again, so the lab hears a viewer only while the button is held.

Once a second the page reads the browser's own inbound statistics (fps, resolution,
audio level) and ``GET /api/channels/<channel>`` (the device's reported states).
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Callable

from aiohttp import web

from alo_edge.lab.ingest import Channels
from alo_edge.lab.relay import ViewerLimitError
from alo_edge.transport.ice import rtc_configuration

logger = logging.getLogger(__name__)

MAX_OFFER_BYTES = 64 * 1024
_CHANNEL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")

_VIEW_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>alo-edge lab: __TITLE__</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 1rem; background: #f4f4f4; color: #222; }
 main { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
 video { background: #000; max-width: 100%; }
 table { border-collapse: collapse; } td { padding: 0.15rem 0.6rem 0.15rem 0; }
 #talk { font-size: 1.2rem; padding: 0.8rem 1.6rem; margin-top: 0.5rem; user-select: none; }
 #talk.on { background: #c62828; color: #fff; }
 #timeline { font-family: ui-monospace, monospace; font-size: 0.85rem; max-height: 24rem;
   overflow-y: auto; padding-left: 3rem; margin: 0; }
 .CONNECTED { color: #2e7d32; } .ERROR { color: #c62828; } .RECONNECT_PENDING { color: #ef6c00; }
</style></head>
<body>
<h1>Channel <code>__TITLE__</code></h1>
<main>
 <section>
  <video id="video" autoplay playsinline muted></video><br>
  <button id="sound" type="button">Sound on</button>
  <button id="talk" type="button" disabled>Hold to talk</button>
  <table>
   <tr><td>device</td><td id="state">no state reported yet</td></tr>
   <tr><td>view</td><td id="link">connecting</td></tr>
   <tr><td>resolution</td><td id="resolution">-</td></tr>
   <tr><td>fps</td><td id="fps">-</td></tr>
   <tr><td>audio level</td><td id="level">-</td></tr>
   <tr><td>talk-back</td><td id="talkback">-</td></tr>
  </table>
 </section>
 <section><h2>Device states</h2><ol id="timeline" reversed></ol></section>
</main>
<p><a href="/">all channels</a></p>
<script>
"use strict";
const channel = __CHANNEL__;
const $ = (id) => document.getElementById(id);
const view = window.aloView = { pc: null, talking: false, error: null };
const pc = view.pc = new RTCPeerConnection({ iceServers: [] });
pc.addTransceiver("video", { direction: "recvonly" });
const audio = pc.addTransceiver("audio", { direction: "sendrecv" });
const remote = new MediaStream();
pc.ontrack = (event) => { remote.addTrack(event.track); $("video").srcObject = remote; };
pc.onconnectionstatechange = () => { $("link").textContent = pc.connectionState; };

function gathered() {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, 3000);  // some candidates may never finish; send what we have
  });
}

async function connect() {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered();
  const response = await fetch(`/view/${channel}/offer`, {
    method: "POST", headers: { "Content-Type": "application/sdp" },
    body: pc.localDescription.sdp,
  });
  if (!response.ok) {
    throw new Error(`the lab answered HTTP ${response.status}: ${await response.text()}`);
  }
  await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
}

// Push-to-talk: the microphone is on the sender only while the button is held.
let microphone = null;
let wantTalk = false;
async function setTalking(on) {
  wantTalk = on;
  try {
    if (on && !microphone) {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      microphone = stream.getAudioTracks()[0];
    }
    await audio.sender.replaceTrack(wantTalk ? microphone : null);
    view.talking = wantTalk;
    $("talk").classList.toggle("on", wantTalk);
    $("talk").textContent = wantTalk ? "Talking..." : "Hold to talk";
  } catch (error) {
    view.error = String(error);
    $("talkback").textContent = `microphone unavailable: ${error}`;
  }
}
const talk = $("talk");
talk.addEventListener("pointerdown", (e) => {
  talk.setPointerCapture(e.pointerId);
  setTalking(true);
});
for (const name of ["pointerup", "pointercancel", "lostpointercapture"]) {
  talk.addEventListener(name, () => { if (wantTalk) setTalking(false); });
}
$("sound").addEventListener("click", () => {
  const video = $("video");
  video.muted = !video.muted;
  $("sound").textContent = video.muted ? "Sound on" : "Sound off";
});

async function showStats() {
  const stats = await pc.getStats();
  stats.forEach((s) => {
    if (s.type !== "inbound-rtp") return;
    if (s.kind === "video" && s.frameWidth) {
      $("resolution").textContent = `${s.frameWidth}x${s.frameHeight}`;
      $("fps").textContent = s.framesPerSecond === undefined ? "-" : String(s.framesPerSecond);
    }
    if (s.kind === "audio") view.playedLevel = s.audioLevel;
  });
}

function describe(entry) {
  const when = new Date(entry.ts * 1000).toLocaleTimeString();
  let text = `${when} ${entry.state}`;
  if (entry.message) text += `: ${entry.message}`;
  if (entry.pendingRestartSeconds !== undefined) {
    text += ` (next attempt in ${entry.pendingRestartSeconds} s)`;
  }
  if (entry.retryCount) text += ` [retry ${entry.retryCount}]`;
  return text;
}

let lastSeq = -1;
async function showChannel() {
  const response = await fetch(`/api/channels/${channel}`);
  if (!response.ok) return;
  const report = await response.json();
  const timeline = report.timeline;
  for (const entry of timeline.filter((e) => e.seq > lastSeq)) {
    const item = document.createElement("li");
    item.className = entry.state;
    item.textContent = describe(entry);
    $("timeline").prepend(item);
    lastSeq = entry.seq;
  }
  if (timeline.length) $("state").textContent = describe(timeline[timeline.length - 1]);
  // A muted page plays nothing, so the browser's own level stays 0: show the lab's then.
  $("level").textContent = view.playedLevel > 0
    ? view.playedLevel.toFixed(3) : `${report.audioLevel.toFixed(3)} (at the lab)`;
  talk.disabled = !report.talkback;
  if (!view.error) {
    $("talkback").textContent = report.talkback
      ? `${report.talking} talking, ${report.viewers} watching`
      : "the device did not offer talk-back";
  }
}

async function tick() {
  try { await showStats(); await showChannel(); } catch (error) { view.error = String(error); }
}
connect().catch((error) => { view.error = String(error); $("link").textContent = String(error); });
setInterval(tick, 1000);
tick();
</script>
</body></html>
"""


def view_page(channel: str) -> str:
    """The live view page for ``channel`` (already validated as a channel name)."""
    return _VIEW_PAGE.replace("__TITLE__", html.escape(channel)).replace(
        "__CHANNEL__", json.dumps(channel)
    )


def _channel_name(request: web.Request) -> str:
    name = request.match_info["channel"]
    if not _CHANNEL_NAME.fullmatch(name):
        raise web.HTTPBadRequest(
            text="channel must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'"
        )
    return name


def add_view_routes(app: web.Application, channels: Channels, closing: Callable[[], bool]) -> None:
    """``GET /view/{channel}`` and ``POST /view/{channel}/offer`` on ``app``.

    ``closing`` says the lab is shutting down (no new viewer then).
    """

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=view_page(_channel_name(request)), content_type="text/html")

    async def offer(request: web.Request) -> web.Response:
        name = _channel_name(request)
        if request.content_type != "application/sdp":
            raise web.HTTPUnsupportedMediaType(text="Content-Type must be application/sdp")
        raw = await request.content.read(MAX_OFFER_BYTES + 1)
        if len(raw) > MAX_OFFER_BYTES:
            raise web.HTTPRequestEntityTooLarge(
                max_size=MAX_OFFER_BYTES, actual_size=len(raw), text="offer too large"
            )
        sdp = raw.decode("utf-8", errors="replace")
        if not sdp.lstrip().startswith("v=0") or "\nm=" not in sdp.replace("\r\n", "\n"):
            raise web.HTTPBadRequest(text="not an SDP offer with media")
        if closing():
            raise web.HTTPServiceUnavailable(text="the lab is shutting down")
        # A viewer may come before the device: the channel then waits for its media.
        live = channels.get_or_create(name).live
        try:
            _, answer = await live.add_viewer(sdp, rtc_configuration([]))
        except ViewerLimitError as error:
            raise web.HTTPServiceUnavailable(text=str(error)) from None
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
            # aiortc signals unusable SDP with these rather than one error type.
            raise web.HTTPBadRequest(text=f"unusable SDP offer: {error}") from None
        return web.Response(text=answer, content_type="application/sdp")

    app.router.add_get("/view/{channel}", page)
    app.router.add_post("/view/{channel}/offer", offer)
