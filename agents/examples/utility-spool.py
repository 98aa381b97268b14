#!/usr/bin/python3
"""A stand-in for a utility's batch job working through `renkei-agent spool`.

renkei-agent writes each delivered message as one JSON file into SPOOL/in/
({"from","type","msg_id","code","first_contact","payload"[,"reply_to"]}).
This job answers each request by writing a reply file into SPOOL/out/
({"reply_to": MSG_ID, "to": FROM, "payload": VALUE}, written under a
temporary name and renamed, as every file dropped into out/ must be), then
moves the delivery to SPOOL/processed/.  A real job would run every few
minutes and file each request under its own customer record (found by
"code").

    utility-spool.py SPOOL_DIR [--seen F] [--log F] [--once]

--seen appends "TYPE CODE FIRST_CONTACT" per request, --log the request as
received (one JSON line): the demo compares what each utility saw.
"""
import argparse
import json
import os
import sys
import time

ACTIONS = {
    "utility.supply.stop": "supply will stop on the requested date",
    "utility.supply.start": "supply will start on the requested date",
}


def append(path, text):
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text + "\n")


def answer(spool, name, req, args):
    """Writes the reply to one request into out/, under the request's name."""
    kind = req["type"]
    append(args.log, json.dumps(req, separators=(",", ":")))
    append(args.seen, "%s %s %d" % (kind, req["code"], 1 if req.get("first_contact") else 0))
    reply = {
        "reply_to": req["msg_id"],
        "to": req["from"],
        "payload": {"result": "done", "type": kind, "note": ACTIONS.get(kind, "received")},
    }
    out = os.path.join(spool, "out", "reply-" + name)
    with open(out + ".tmp", "w", encoding="utf-8") as f:
        json.dump(reply, f)
        f.flush()
        os.fsync(f.fileno())
    os.rename(out + ".tmp", out)


def one_pass(spool, args):
    incoming = os.path.join(spool, "in")
    done = os.path.join(spool, "processed")
    os.makedirs(done, exist_ok=True)
    for name in sorted(os.listdir(incoming)):
        if not name.endswith(".json") or name.startswith("."):
            continue
        path = os.path.join(incoming, name)
        with open(path, encoding="utf-8") as f:
            msg = json.load(f)
        if "reply_to" not in msg:  # a request: it waits for an answer
            answer(spool, name, msg, args)
        os.rename(path, os.path.join(done, name))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spool")
    ap.add_argument("--seen")
    ap.add_argument("--log")
    ap.add_argument("--once", action="store_true", help="one pass over in/, then exit")
    args = ap.parse_args()
    while True:
        one_pass(args.spool, args)
        if args.once:
            return 0
        time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main())
