// The server's configuration, from the page's inline JSON block (a data block: never run).
const block = document.getElementById("config");
export const config = block ? JSON.parse(block.textContent) : {};

// The server's clock, which decides what is revealed and when: its time when the page was served
// plus the time since (the browser's own clock may be wrong).
const loadedAt = Date.now();
export function serverNow() {
  return (config.now ? Date.parse(config.now) : loadedAt) + (Date.now() - loadedAt);
}
