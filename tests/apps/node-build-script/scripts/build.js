// What `vite build` does for this app, without the dependency: src/ in, dist/ out.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";

const html = readFileSync("src/index.html", "utf8")
  .replace("%TITLE%", "Built by the build script")
  .replace("%BUILT_AT%", new Date().toISOString());
mkdirSync("dist", { recursive: true });
writeFileSync("dist/index.html", html);
console.log("dist/index.html written");
