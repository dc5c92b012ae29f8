require("node:http").createServer((req, res) => res.end("Hello from the future")).listen(process.env.PORT);
