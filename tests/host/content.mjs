// The `content` scenario group of the real-host test (issue 11): meetings as content and the
// Team Chat surface through a real gateway, the extension and the sidecar, on fake Zoom and the
// fake LLM. Per host:
//   - a meeting's summary (`meeting.summary_completed`, fetched from fake Zoom) and its
//     transcript (`recording.transcript_completed`, VTT downloaded) reach the LLM's prompt;
//   - an image sent in a Team Chat DM reaches the LLM as an image content part (the fake model
//     is declared image-capable, `input: ["text", "image"]`);
//   - the agent's `message` tool calls `react` and `edit` (scripted in the fake LLM) reach
//     fake Zoom's emoji-reaction and update-message APIs.
// run.mjs passes its helpers in (`h`), so this module has no import cycle with it.

import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";

/** A small valid PNG: `w`×`h` pixels of one RGB colour. */
export function solidPng(w, h, [r, g, b]) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: w }, () => [r, g, b]).flat())]);
  const raw = Buffer.concat(Array.from({ length: h }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", zlib.deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** Width and height of a PNG or baseline/progressive JPEG, else undefined. */
export function imageSize(buf) {
  if (buf.length > 24 && buf.readUInt32BE(0) === 0x89504e47) return { type: "png", w: buf.readUInt32BE(16), h: buf.readUInt32BE(20) };
  if (buf.length > 4 && buf[0] === 0xff && buf[1] === 0xd8) {
    for (let i = 2; i + 9 < buf.length; ) {
      if (buf[i] !== 0xff) return undefined;
      const marker = buf[i + 1];
      const len = buf.readUInt16BE(i + 2);
      if (marker >= 0xc0 && marker <= 0xc3) return { type: "jpeg", h: buf.readUInt16BE(i + 5), w: buf.readUInt16BE(i + 7) };
      i += 2 + len;
    }
  }
  return undefined;
}

/**
 * The image parts of an LLM request body, decoded: Chat Completions `image_url` parts with a
 * `data:` URL, Responses `input_image` parts. `[{mime, bytes, role}]`.
 */
export function imageParts(body) {
  const out = [];
  const items = Array.isArray(body?.messages) ? body.messages : Array.isArray(body?.input) ? body.input : [];
  for (const m of items) {
    if (!Array.isArray(m?.content)) continue;
    for (const p of m.content) {
      const url = p?.type === "image_url" ? (typeof p.image_url === "string" ? p.image_url : p.image_url?.url) : p?.type === "input_image" ? p.image_url : undefined;
      const match = typeof url === "string" ? /^data:([^;,]+);base64,(.*)$/s.exec(url) : null;
      if (match) out.push({ mime: match[1], bytes: Buffer.from(match[2], "base64"), role: m.role });
    }
  }
  return out;
}

/** A WebVTT file of `turns` ([speaker, text]), one cue each, 5 s apart. */
function vtt(turns) {
  const ts = (s) => `00:${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}.000`;
  return `WEBVTT\n\n${turns.map(([who, text], i) => `${i + 1}\n${ts(i * 5)} --> ${ts(i * 5 + 4)}\n${who}: ${text}\n`).join("\n")}`;
}

export async function contentScenario(host, root, opts, h) {
  const scope = `${host} content`;
  const lab = h.makeLab(root, `${host}-content`);
  if (!fs.existsSync(h.HOSTS[host].entry)) return h.fail(scope, "gateway installed", `${h.HOSTS[host].entry} missing`);
  let gateway;
  let llm;
  try {
    llm = await h.startFakeLlm(lab);
    const fz = await h.startFakeZoom(lab, "fake-zoom");
    const gatewayPort = await h.freePort();
    const sidecarPort = await h.freePort();
    await h.installExtension(lab, opts);
    fs.mkdirSync(path.join(lab.dir, "zoom"), { recursive: true });
    const config = h.writeConfig(host, lab, {
      gatewayPort,
      llmUrl: llm.url,
      channels: {
        zoom: {
          enabled: true,
          ...h.zoomAccount(fz, sidecarPort, {
            defaultTarget: h.ME,
            password: h.ZOOM_PASSWORD,
            dmPolicy: "allowlist",
            allowFrom: ["alice@example.com"],
            database: path.join(lab.dir, "zoom", "zoom.sqlite"),
          }),
        },
      },
      plugins: { slots: { memory: "none" }, entries: { zoom: { enabled: true } } },
    });
    // An image-capable model: both hosts then load a turn's local image media into the
    // request as image parts (Clawdbot: `model.input` includes "image"; OpenClaw likewise).
    for (const m of config.models.providers.fake.models) m.input = ["text", "image"];
    fs.writeFileSync(path.join(lab.state, h.HOSTS[host].configFile), `${JSON.stringify(config, null, 2)}\n`);

    const booted = await h.check(scope, "gateway (image-capable fake model) starts and the zoom channel starts", async () => {
      gateway = await h.startGateway(host, lab, gatewayPort, [["zoom channel started line", /zoom channel started/]]);
      return `HTTP ${h.secs(gateway.httpReady)}, channel ${h.secs(gateway.channelReady)}`;
    });
    if (!booted) return;
    const connected = await h.check(scope, "sidecar connects to the fake Zoom WebSocket", () =>
      h.waitFor("an open WS connection at fake Zoom", async () => (await fz.stats())?.open_connections >= 1),
    );
    if (!connected) return;

    await meetingContent(scope, llm, fz, h);
    await imageToModel(scope, lab, llm, fz, h);
    await reactAndEdit(host, scope, llm, fz, h);
  } finally {
    // The model requests with their bodies, for debugging a kept lab.
    const requests = await llm?.requests(0).catch(() => undefined);
    if (requests) fs.writeFileSync(path.join(lab.logs, "fake-llm-requests.json"), JSON.stringify(requests, null, 1));
    if (gateway) await h.stopProcess(gateway.proc, { spare: [h.sidecarState(lab)?.pid].filter(Boolean) });
    await h.stopSidecar(lab);
    await h.stopAll();
  }
}

/**
 * A meeting ends (`meeting.ended`), then its summary and its transcript each start a turn whose
 * prompt carries them, all three in the meeting's conversation.
 */
async function meetingContent(scope, llm, fz, h) {
  const meetingId = 83300000001;
  const uuid = "zc/content//uuid==";
  const topic = "Zephyr launch review";
  const overview = "The team agreed to ship Zephyr on 12 March with the blue onboarding flow.";
  const section = "Pricing stays at 9 euros; the annual plan is dropped.";
  const step = "Dana: write the Zephyr release notes by Thursday";
  const summary = {
    meeting_host_id: "host-me-id",
    meeting_host_email: h.ME,
    meeting_uuid: uuid,
    meeting_id: meetingId,
    meeting_topic: topic,
    meeting_start_time: new Date(Date.now() - 3_600_000).toISOString(),
    meeting_end_time: new Date().toISOString(),
    summary_title: "Zephyr launch review summary",
    summary_overview: overview,
    summary_details: [{ label: "Pricing", summary: section }],
    next_steps: [step],
    summary_doc_url: "https://docs.zoom.us/doc/zephyr-summary",
  };
  let r = await h.http("POST", `${fz.baseUrl}/_fake/meeting-summaries`, summary);
  if (r.status !== 200) throw new Error(`POST /_fake/meeting-summaries -> ${r.status} ${r.text}`);
  const summaryEvent = h.zoomEvent("meeting.summary_completed", {
    object: {
      meeting_host_id: "host-me-id",
      meeting_host_email: h.ME,
      meeting_uuid: uuid,
      meeting_id: meetingId,
      meeting_topic: topic,
      meeting_start_time: summary.meeting_start_time,
      meeting_end_time: summary.meeting_end_time,
      summary_title: summary.summary_title,
      // What the event itself carries is short; the fetched summary is the full one.
      summary_overview: "Event-carried overview only.",
    },
  });
  const endedMarker = `Meeting ended marker zc-${meetingId}`;
  let endedReq;
  await h.check(scope, "meeting.ended starts the meeting's turn", async () => {
    const since = await llm.next();
    const from = (await fz.teamChat()).length;
    const object = { id: meetingId, uuid, host_id: "host-me-id", topic: `${topic} (${endedMarker})`, type: 2, start_time: summary.meeting_start_time, end_time: summary.meeting_end_time, timezone: "UTC", duration: 60 };
    await fz.push(h.zoomEvent("meeting.ended", { object }));
    endedReq = await h.waitLlm(llm, since, [endedMarker], JSON.stringify(endedMarker));
    await h.waitTeamChat(fz, from, (s) => h.chatTo(h.ME)(s) && String(s.body.message).includes("ACK:"), `the turn's reply to ${h.ME}`);
  });
  let summaryReq;
  await h.check(scope, "meeting.summary_completed: the fetched summary (overview, section, next step) is in the LLM request, in the meeting's conversation", async () => {
    const since = await llm.next();
    const from = (await fz.teamChat()).length;
    const pushedAt = await fz.push(summaryEvent);
    summaryReq = await h.waitLlm(llm, since, [overview, section, step], "the summary's overview, section and next step");
    const body = JSON.stringify(summaryReq.body);
    if (body.includes("Event-carried overview only.")) throw new Error("the prompt has the event's overview, not only the fetched one");
    // Same conversation (zoom;+;meeting:<id>, not the feed): the meeting.ended turn is in its history.
    if (endedReq && !body.includes(endedMarker)) throw new Error("the summary's turn has no meeting.ended in its history: not the meeting's conversation");
    await h.waitTeamChat(fz, from, (s) => h.chatTo(h.ME)(s) && String(s.body.message).includes("ACK:"), `the turn's reply to ${h.ME}`);
    return `${h.secs(summaryReq.at - pushedAt)} frame → LLM; meeting.ended in its history; reply at the default target`;
  });

  const spoken = [
    ["Dana Writer", "I will draft the Zephyr notes tonight, the quokka mascot goes on page one."],
    ["Eli Engineer", "Then the migration script runs on Tuesday at noon."],
  ];
  // The body is the file's raw bytes.
  const res = await fetch(`${fz.baseUrl}/_fake/recording-files/zc-transcript-1`, { method: "POST", body: vtt(spoken), signal: AbortSignal.timeout(10_000) });
  const added = await res.json();
  if (!res.ok || !added?.download_url) throw new Error(`POST /_fake/recording-files -> ${res.status} ${JSON.stringify(added)}`);
  const transcriptEvent = h.zoomEvent("recording.transcript_completed", {
    object: {
      id: meetingId,
      uuid,
      host_id: "host-me-id",
      topic,
      start_time: summary.meeting_start_time,
      duration: 60,
      recording_files: [
        {
          id: "zc-transcript-1",
          meeting_id: uuid,
          file_type: "TRANSCRIPT",
          file_extension: "VTT",
          file_size: Buffer.byteLength(vtt(spoken)),
          recording_type: "audio_transcript",
          status: "completed",
          download_url: added.download_url,
        },
      ],
    },
  });
  await h.check(scope, "recording.transcript_completed: the transcript's speaker turns are in the LLM request, in the meeting's conversation", async () => {
    const since = await llm.next();
    const from = (await fz.teamChat()).length;
    const pushedAt = await fz.push(transcriptEvent);
    const needles = spoken.map(([who, text]) => `${who}: ${text}`);
    const req = await h.waitLlm(llm, since, needles, "both speaker turns of the transcript");
    // Same conversation (zoom;+;meeting:<id>): the summary turn is in this turn's history.
    if (summaryReq && !JSON.stringify(req.body).includes(overview)) throw new Error("the transcript's turn has no summary in its history: not the meeting's conversation");
    await h.waitTeamChat(fz, from, (s) => h.chatTo(h.ME)(s) && String(s.body.message).includes("ACK:"), `the turn's reply to ${h.ME}`);
    return `${h.secs(req.at - pushedAt)} frame → LLM; summary in the same session's history`;
  });
}

/** A Team Chat DM with a PNG: the model gets it as an image part (the same pixels). */
async function imageToModel(scope, lab, llm, fz, h) {
  const png = solidPng(16, 12, [200, 30, 90]);
  const r = await h.http("POST", `${fz.baseUrl}/_fake/files`, { file_name: "zc-whiteboard.png", mime_type: "image/png", content_base64: png.toString("base64") });
  if (r.status !== 200 || !r.json?.file_id) throw new Error(`POST /_fake/files -> ${r.status} ${r.text}`);
  const text = "zc-image: what is on this whiteboard?";
  const event = h.dmPosted("alice@example.com", text);
  event.payload.object.files = [{ file_id: r.json.file_id, file_name: "zc-whiteboard.png", file_size: png.length, OS_file_type: "PNG", file_message_type: "image" }];
  await h.check(scope, "a Team Chat DM with a PNG: the LLM request carries it as an image part (same size in pixels)", async () => {
    const since = await llm.next();
    const from = (await fz.teamChat()).length;
    await fz.push(event);
    const req = await h.waitLlm(llm, since, [text], JSON.stringify(text));
    const images = imageParts(req.body);
    if (!images.length) {
      throw new Error(`no image part in the request; user text: ${JSON.stringify(req.userTail)}`);
    }
    const sized = images.map((i) => ({ ...i, size: imageSize(i.bytes) }));
    const hit = sized.find((i) => i.size && i.size.w === 16 && i.size.h === 12 && i.role === "user");
    if (!hit) throw new Error(`image parts ${JSON.stringify(sized.map((i) => ({ mime: i.mime, role: i.role, bytes: i.bytes.length, size: i.size })))}: none is the 16×12 image`);
    const same = hit.bytes.equals(png);
    await h.waitTeamChat(fz, from, h.chatTo("alice@example.com"), "the reply to alice@example.com");
    return `${hit.mime}, ${hit.bytes.length} bytes, ${same ? "the bytes sent" : `re-encoded by the host (${hit.size.type})`}`;
  });
}

/**
 * A DM asks for a reaction and an edit; the fake LLM (scripted) makes the agent call the
 * `message` tool: react to that DM, send a note, edit the note. Fake Zoom records the reaction
 * on alice's message and the edit of the note.
 */
async function reactAndEdit(host, scope, llm, fz, h) {
  const marker = "zc-actions";
  const draft = "zc draft note from the agent";
  const final = "zc final note from the agent";
  const s = await h.http("POST", `${llm.url.replace(/\/v1$/, "")}/__script`, {
    match: marker,
    steps: [
      { tool: "message", arguments: { action: "react", channel: "zoom", messageId: "$MESSAGE_ID", emoji: "👍" } },
      { tool: "message", arguments: { action: "send", channel: "zoom", target: "alice@example.com", message: draft } },
      // In the current conversation. Clawdbot fills it in when no target is given; OpenClaw
      // lets an external plugin's edit act only on a target that is exactly the current
      // conversation, the `chat_id` its prompt shows (`zoom:zoom;-;alice@example.com`).
      {
        tool: "message",
        arguments: { action: "edit", channel: "zoom", ...(host === "openclaw" ? { target: "$CHAT_ID" } : {}), messageId: "$RESULT.messageId", message: final },
      },
      { text: "zc actions done" },
    ],
  });
  if (s.status !== 200) throw new Error(`POST /__script -> ${s.status} ${s.text}`);
  const event = h.dmPosted("alice@example.com", `${marker}: react to this and post a note, then fix the note`);
  const zoomMessageId = event.payload.object.message_id;
  await h.check(scope, "the agent's message-tool react reaches fake Zoom (emoji reaction on alice's DM)", async () => {
    const since = await llm.next();
    await fz.push(event);
    const op = await h.waitFor("a react op at fake Zoom", async () => {
      const ops = (await h.http("GET", `${fz.baseUrl}/_fake/chat-ops`)).json?.ops ?? [];
      return ops.find((o) => o.kind === "react" && o.message_id === zoomMessageId);
    }).catch(async (e) => {
      const reqs = await llm.requests(since);
      throw new Error(`${e.message}\nLLM answers: ${JSON.stringify(reqs.map((q) => q.toolCall ?? q.reply))}`);
    });
    if (op.emoji !== "U+1F44D" || op.action !== "add" || op.to_contact !== "alice@example.com") throw new Error(`react op ${JSON.stringify(op)}`);
    return `${op.action} ${op.emoji} on ${op.message_id} (to_contact ${op.to_contact})`;
  });
  await h.check(scope, "the agent's message-tool send then edit reaches fake Zoom (update-message of its own note)", async () => {
    const sent = await h.waitFor("the agent's note in Team Chat", async () => (await fz.teamChat()).find((m) => m.body?.message === draft));
    const op = await h.waitFor("an edit op at fake Zoom", async () => {
      const ops = (await h.http("GET", `${fz.baseUrl}/_fake/chat-ops`)).json?.ops ?? [];
      return ops.find((o) => o.kind === "edit");
    }).catch(async (e) => {
      const reqs = await llm.requests(0);
      throw new Error(`${e.message}\nLLM answers: ${JSON.stringify(reqs.slice(-6).map((q) => q.toolCall ?? q.reply))}`);
    });
    if (op.message_id !== sent.id || op.message !== final) throw new Error(`edit op ${JSON.stringify(op)}, expected message ${sent.id} → ${JSON.stringify(final)}`);
    return `edit of ${op.message_id} → ${JSON.stringify(op.message)}`;
  });
}
