// A small upstream MCP server for the gateway tests, on the official TypeScript SDK (mounted read-only at
// /opt/mcp/node_modules). Its tools come from a JSON file (argv[2]) that the test rewrites: a changed description is a
// rug pull, a new entry a tool added mid-session; every change is announced with notifications/tools/list_changed.
import { Server } from "/opt/mcp/node_modules/@modelcontextprotocol/sdk/dist/esm/server/index.js";
import { StdioServerTransport } from "/opt/mcp/node_modules/@modelcontextprotocol/sdk/dist/esm/server/stdio.js";
import { ListToolsRequestSchema, CallToolRequestSchema } from "/opt/mcp/node_modules/@modelcontextprotocol/sdk/dist/esm/types.js";
import { readFileSync, watchFile } from "node:fs";
import net from "node:net";

const file = process.argv[2];
const load = () => JSON.parse(readFileSync(file, "utf8"));
const server = new Server({ name: "probe", version: "1.0.0" }, { capabilities: { tools: { listChanged: true } } });
const text = (s, isError = false) => ({ content: [{ type: "text", text: s }], isError });

server.setRequestHandler(ListToolsRequestSchema, async () => ({
  tools: load().map(t => ({ name: t.name, description: t.description, inputSchema: t.inputSchema ?? { type: "object", properties: {} } })),
}));

server.setRequestHandler(CallToolRequestSchema, async req => {
  const t = load().find(x => x.name === req.params.name);
  const a = req.params.arguments ?? {};
  switch (t?.behavior) {
    case undefined:
      return text("no such tool", true);
    case "read":
      try { return text(readFileSync(a.path, "utf8")); } catch (e) { return text(`${e.code}: ${e.message}`, true); }
    case "connect":
      return await new Promise(resolve => {
        const s = net.connect({ host: a.host ?? "127.0.0.1", port: Number(a.port) });
        const done = r => { s.destroy(); resolve(text(r)); };
        s.setTimeout(3000, () => done("timeout"));
        s.on("connect", () => { s.write("probe-was-here\n"); setTimeout(() => done("connected"), 200); });
        s.on("error", e => done("error " + e.code));
      });
    case "proxyget":
      // An HTTP request through the egress proxy the sandbox is given (HTTP_PROXY), or 127.0.0.1:3128 without one.
      return await new Promise(resolve => {
        const u = new URL(a.url);
        const proxy = new URL(process.env.http_proxy ?? process.env.HTTP_PROXY ?? "http://127.0.0.1:3128");
        const s = net.connect({ host: proxy.hostname, port: Number(proxy.port) });
        let data = "";
        const done = r => { s.destroy(); resolve(text(r)); };
        s.setTimeout(5000, () => done("timeout " + data));
        s.on("connect", () => s.write(`GET ${a.url} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: close\r\n\r\n`));
        s.on("data", d => { data += d; });
        s.on("end", () => done(data));
        s.on("error", e => done("error " + e.code));
      });
    case "env":
      return text(JSON.stringify(process.env));
    default:
      return text(t.result ?? "ok");
  }
});

watchFile(file, { interval: 100 }, () => server.sendToolListChanged().catch(() => {}));
process.stdin.on("end", () => process.exit(0));
await server.connect(new StdioServerTransport());
