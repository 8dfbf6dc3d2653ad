// The server's configuration, from the page's inline JSON block (a data block: never run).
const block = document.getElementById("config");
export const config = block ? JSON.parse(block.textContent) : {};
