#!/usr/bin/python3
"""A stand-in for a utility's back office behind `renkei-agent serve --webhook`.

renkei-agent POSTs each delivered request to this server as one JSON object
({"from","type","msg_id","code","first_contact","payload"}); the answer
{"reply": VALUE} becomes the reply the sender receives.  A real back office
would file the request under its own customer record (found by "code") and
answer when the work is scheduled.

    utility-webhook.py --port-file F [--seen F] [--log F]
    renkei-agent ... serve --webhook http://127.0.0.1:$(cat F)/renkei

It listens on 127.0.0.1 on a free port and writes the port to --port-file.
--seen appends "TYPE CODE FIRST_CONTACT" per request, --log the request as
received (one JSON line): the demo compares what each utility saw.
"""
import argparse
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ACTIONS = {
    "utility.supply.stop": "supply will stop on the requested date",
    "utility.supply.start": "supply will start on the requested date",
}


def append(path, text):
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text + "\n")


class BackOffice(BaseHTTPRequestHandler):
    def do_POST(self):
        try:
            n = int(self.headers.get("Content-Length", "0"))
            req = json.loads(self.rfile.read(n))
            kind = req["type"]
            code = req["code"]
        except (ValueError, KeyError, TypeError):
            self.send_error(400, "expected a Renkei delivery")
            return
        append(self.server.log_path, json.dumps(req, separators=(",", ":")))
        append(self.server.seen_path, "%s %s %d" % (kind, code, 1 if req.get("first_contact") else 0))
        reply = {"result": "done", "type": kind, "note": ACTIONS.get(kind, "received")}
        body = json.dumps({"reply": reply}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):  # no access log: a URL or body is never printed
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--seen")
    ap.add_argument("--log")
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), BackOffice)
    srv.seen_path, srv.log_path = args.seen, args.log
    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
