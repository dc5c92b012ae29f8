// Serves what the build wrote; fails loudly when the build did not run.
import { createServer } from "node:http";
import { readFileSync } from "node:fs";

const page = readFileSync("dist/index.html");
const port = Number(process.env.PORT || 3000);
createServer((req, res) => {
  res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
  res.end(page);
}).listen(port, () => console.log(`serving dist/ on ${port}`));
