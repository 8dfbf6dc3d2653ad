// The live stream GET /v1/me/events. EventSource cannot send `Authorization`, so the stream is read
// with fetch() and a ReadableStream, parsed as Server-Sent Events, and reopened with Last-Event-ID
// (after refreshing the token) when it ends.
import * as auth from "./auth.js";

export function parseEvents(buffer, onMessage) {
  // Returns what is left of `buffer` after its complete messages.
  const blocks = buffer.split(/\r?\n\r?\n/);
  const rest = blocks.pop();
  for (const block of blocks) {
    const message = { id: null, event: "message", data: [] };
    let any = false;
    for (const line of block.split(/\r?\n/)) {
      if (line === "" || line.startsWith(":")) continue;
      const at = line.indexOf(":");
      const name = at < 0 ? line : line.slice(0, at);
      const value = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
      if (name === "id") message.id = value;
      else if (name === "event") message.event = value;
      else if (name === "data") message.data.push(value);
      any = true;
    }
    if (any) onMessage({ ...message, data: message.data.join("\n") });
  }
  return rest;
}

export class LiveEvents {
  constructor(onEvent, onState = () => {}) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.lastId = null;
    this.controller = null;
    this.stopped = false;
    this.delay = 1000;
  }

  start() {
    this.stopped = false;
    this.loop();
    return this;
  }

  stop() {
    this.stopped = true;
    this.controller?.abort();
  }

  async loop() {
    while (!this.stopped) {
      try {
        await this.readOnce();
        this.delay = 1000;
      } catch (error) {
        if (this.stopped) return;
        this.onState("offline");
      }
      if (this.stopped) return;
      await new Promise((resolve) => setTimeout(resolve, this.delay));
      this.delay = Math.min(this.delay * 2, 30_000);
    }
  }

  async readOnce() {
    let token = await auth.accessToken();
    if (!token) {
      this.stopped = true;
      return;
    }
    this.controller = new AbortController();
    const headers = { Accept: "text/event-stream", Authorization: `Bearer ${token}` };
    if (this.lastId) headers["Last-Event-ID"] = this.lastId;
    let response = await fetch("/v1/me/events", { headers, signal: this.controller.signal });
    if (response.status === 401) {
      token = await auth.refresh();
      if (!token) {
        this.stopped = true;
        return;
      }
      headers.Authorization = `Bearer ${token}`;
      response = await fetch("/v1/me/events", { headers, signal: this.controller.signal });
    }
    if (!response.ok || !response.body) throw new Error(`stream ${response.status}`);
    this.onState("live");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer = parseEvents(buffer + value, (message) => {
        if (message.id) this.lastId = message.id;
        try {
          this.onEvent(message.event, JSON.parse(message.data));
        } catch {
          // A message that is not JSON is not ours to handle.
        }
      });
    }
    this.onState("offline");
  }
}
