#!/usr/bin/python3
"""Two organizations over two `renkei-agent http` gateways, through
renkei_http_client only (what agents/openapi.json and proto/README.md say).

    scenario.py --spec agents/openapi.json \\
        --city URL --city-org ORG --city-token-file FILE \\
        --utility URL --utility-org ORG --utility-token-file FILE \\
        [--town URL --town-org ORG --town-token-file FILE --town-bind CMD]  < person

With --town (a second municipality), the municipality also sends it a
move.out.notice; the town binds the code it got at first contact with CMD
(its `renkei-agent ... bind` command line, CODE appended, the number on its
standard input: the API does not bind) and answers with a move.in.notice
follow-up (POST /v1/messages with reply_to).

The resident's number (enrolled by the municipality) is the first line of
standard input: never an argument, never printed.  Every answer is checked
against the document's schema for its operation and status.  Prints one
line per step ("ok: ...") and exits 0 when all held; otherwise prints
"FAIL: ..." and exits 1.
"""

import argparse
import os
import shlex
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from renkei_http_client import (  # noqa: E402
    ApiError, BadRequest, Conflict, MethodNotAllowed, NotFound, Refused, RenkeiClient,
    SchemaChecker, Unauthorized)

STOP = "utility.supply.stop"
START = "utility.supply.start"
NO_SUCH_ID = "0" * 32


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)


def ok(what):
    print("ok: " + what, flush=True)


def expect_error(cls, fn, what):
    """fn() must raise cls; its body must be an Error (checked by the
    client against the document) whose error is a non-empty string."""
    try:
        fn()
    except cls as e:
        check(isinstance(e.error, str) and e.error, what + ": error is empty")
        ok("%s -> %d %r" % (what, e.status, e.error))
        return e
    except ApiError as e:
        raise Failed("%s: expected %s, got %d %r" % (what, cls.__name__, e.status, e.error))
    raise Failed("%s: expected %s, got a success" % (what, cls.__name__))


def wait_ready(api, name, deadline_s=20.0):
    """The gateway answers once it is listening: GET an id no one sent (404)."""
    end = time.monotonic() + deadline_s
    while True:
        try:
            api.get_message(NO_SUCH_ID)
        except NotFound:
            return
        except OSError:
            if time.monotonic() > end:
                raise Failed("%s gateway never answered" % name)
            time.sleep(0.1)


def wait_state(api, msg_id, states, deadline_s=30.0):
    end = time.monotonic() + deadline_s
    while True:
        m = api.get_message(msg_id)
        if m["state"] in states:
            return m
        if time.monotonic() > end:
            raise Failed("message stayed %s, expected %s" % (m["state"], "/".join(states)))
        time.sleep(0.1)


def receive(api, what, deadline_s=30):
    d = api.receive_message(wait=deadline_s, what=what)
    check(d is not None, "nothing in the inbox within %d s" % deadline_s)
    return d


def follow_up(city, town, city_org, town_org, bind_cmd, person):
    """A move.out.notice to a second municipality, bound there at first
    contact and followed up with a move.in.notice."""
    wait_ready(town, "the town's")
    out = city.send_message(town_org, "move.out.notice", person, {"moving_on": "2025-04-01"},
                            idempotency_key="oa-move-0001")
    d = receive(town, "requests")
    check(d["msg_id"] == out["msg_id"] and d["type"] == "move.out.notice", "the town got another message")
    check(d["first_contact"] is True and "person" not in d, "first contact at the town not said")
    r = subprocess.run(shlex.split(bind_cmd) + [d["code"]], input=person + "\n", text=True,
                       capture_output=True, timeout=30)
    check(r.returncode == 0, "renkei-agent bind exited %d" % r.returncode)
    ok("the town bound the code it got at first contact (beside its running gateway)")
    check(town.mark_done(city_org, out["msg_id"])["state"] == "DONE", "done on the notice")
    fu = town.send_message(city_org, "move.in.notice", person, {"moved_in": "2025-04-01"},
                           idempotency_key="oa-move-in-0001", reply_to=out["msg_id"])
    ok("the town sent a move.in.notice follow-up (%s)" % fu["state"])
    check(city.receive_message(wait=2, what="requests") is None,
          "what=requests handed out a follow-up")
    ok("what=requests leaves the follow-up")
    f = receive(city, "all")
    check(f["msg_id"] == fu["msg_id"] and f["type"] == "move.in.notice"
          and f.get("reply_to") == out["msg_id"] and f.get("person") == person,
          "the municipality got another message than the follow-up")
    check(city.mark_done(town_org, f["msg_id"])["state"] == "DONE", "done on the follow-up")
    ok("what=all hands out the follow-up, with reply_to and the number")
    m = wait_state(city, out["msg_id"], ("ANSWERED",))
    check(m.get("reply_msg_id") == fu["msg_id"], "the notice is not answered by the follow-up")
    ok("the municipality's move.out.notice is ANSWERED by the follow-up")
    ts = [(x["type"], x.get("reply_to")) for x in town.search_messages(person)]
    check(ts == [("move.in.notice", out["msg_id"])], "the town's search: %r" % ts)
    ok("the town, having bound the number, finds its follow-up by it")


def main():
    ap = argparse.ArgumentParser()
    for side in ("city", "utility"):
        ap.add_argument("--" + side, required=True)
        ap.add_argument("--%s-org" % side, required=True)
        ap.add_argument("--%s-token-file" % side, required=True)
    ap.add_argument("--town")
    ap.add_argument("--town-org")
    ap.add_argument("--town-token-file")
    ap.add_argument("--town-bind")
    ap.add_argument("--spec", required=True)
    ap.add_argument("--cafile")
    a = ap.parse_args()

    person = sys.stdin.readline().strip()
    check(person, "no resident's number on standard input")
    spec = SchemaChecker.load(a.spec)

    def client(url, token_file, token=None):
        with open(token_file) as f:
            t = f.readline().strip()
        return RenkeiClient(url, token if token is not None else t, cafile=a.cafile, spec=spec)

    city = client(a.city, a.city_token_file)
    util = client(a.utility, a.utility_token_file)
    city_org, util_org = a.city_org, a.utility_org
    wait_ready(city, "the municipality's")
    wait_ready(util, "the utility's")
    ok("both gateways answer")

    # ---- documented errors, with the documented shape
    bad = client(a.city, a.city_token_file, token="not-the-token-0123456789")
    expect_error(Unauthorized, lambda: bad.get_message(NO_SUCH_ID), "wrong token")
    expect_error(Unauthorized, lambda: city.call("GET", "/v1/messages/{msg_id}",
                                                 "/v1/messages/" + NO_SUCH_ID, token=False),
                 "no token")
    expect_error(NotFound, lambda: city.get_message(NO_SUCH_ID), "unknown message")
    e = expect_error(BadRequest, lambda: city.interpret(
        "POST", "/v1/messages",
        city.request("POST", "/v1/messages", b'{"to": "power", "type":',
                     {"Idempotency-Key": "oa-malformed"}), ok=(202,)), "malformed body")
    e = expect_error(BadRequest, lambda: city.call(
        "POST", "/v1/messages", "/v1/messages",
        {"to": util_org, "type": STOP, "person": person, "payload": {}}, ok=(202,)),
        "no Idempotency-Key")
    check("Idempotency-Key" in e.error, "400 without Idempotency-Key does not name it")
    check(person not in e.error, "an error repeats the number")
    e = expect_error(BadRequest, lambda: city.call(
        "POST", "/v1/messages", "/v1/messages", {"to": util_org, "person": person, "payload": {}},
        {"Idempotency-Key": "oa-no-type"}, ok=(202,)), "missing type")
    check("type" in e.error, "400 for a missing field does not name it")
    expect_error(BadRequest, lambda: util.receive_message(wait=61), "wait out of range")
    expect_error(NotFound, lambda: util.reply(city_org, NO_SUCH_ID, {}), "reply to an unknown message")
    expect_error(NotFound, lambda: city.call("GET", "/v1/messages/{msg_id}", "/v1/nothing-here"),
                 "unknown path")
    e = expect_error(MethodNotAllowed, lambda: city.interpret(
        "GET", "/v1/messages/{msg_id}", city.request("DELETE", "/v1/messages/" + NO_SUCH_ID)),
        "wrong method")
    check("allow" in e.headers and "GET" in e.headers["allow"], "405 without Allow: GET")

    # ---- a request, answered
    req = {"meter": "M-7", "request": "stop", "date": "2025-03-31"}
    sent = city.send_message(util_org, STOP, person, req, idempotency_key="oa-order-0001")
    check(sent["state"] in ("ACCEPTED", "PENDING"), "send: state %s" % sent["state"])
    a_id = sent["msg_id"]
    ok("the municipality sent a request (%s)" % sent["state"])

    again = city.send_message(util_org, STOP, person, req, idempotency_key="oa-order-0001")
    check(again["msg_id"] == a_id, "the same Idempotency-Key answered another msg_id")
    ok("a retried send with the same Idempotency-Key answers the same msg_id")
    again = city.send_message(util_org, STOP, person, {"other": "payload"},
                              idempotency_key="oa-order-0001")
    check(again["msg_id"] == a_id, "the same key with another payload answered another msg_id")
    ok("the same key with another payload: the same msg_id (the payload is not compared)")
    expect_error(Conflict, lambda: city.send_message(util_org, START, person, req,
                                                     idempotency_key="oa-order-0001"),
                 "the same Idempotency-Key for another message")

    e = expect_error(Refused, lambda: city.send_message("no.such.org", STOP, person, req,
                                                        idempotency_key="oa-refused-0001"),
                     "a send to an unknown recipient")
    check(e.body.get("status") == "UNKNOWN_RECIPIENT", "422 without the hub's status")
    check(person not in e.body.get("detail", ""), "the hub's detail repeats the number")
    e = expect_error(Refused, lambda: city.send_message(util_org, STOP, person + "-NOT-ENROLLED", req,
                                                        idempotency_key="oa-notenrolled"),
                     "a send about a resident not in the local table")
    check(person not in e.error, "the 422 repeats the number")

    d = receive(util, "requests")
    check(d["from"] == city_org and d["msg_id"] == a_id and d["type"] == STOP,
          "the utility got another message")
    check(d["payload"] == req, "the payload changed on the way")
    check(d["first_contact"] is True, "first contact not said")
    check("person" not in d, "the utility saw a number it never bound")
    check("reply_to" not in d, "a request carries reply_to")
    ok("the utility's back office long-polled the request (first contact)")

    rep_payload = {"stopped": "2025-03-31", "final_reading": 1234}
    rep = util.reply(city_org, a_id, rep_payload)
    check(rep["state"] in ("ACCEPTED", "PENDING"), "reply: state %s" % rep["state"])
    r_id = rep["msg_id"]
    check(r_id != a_id, "the reply has the request's id")
    ok("the utility replied (%s)" % rep["state"])
    e = expect_error(Conflict, lambda: util.reply(city_org, a_id, rep_payload), "replying twice")
    check(e.body["reply_msg_id"] == r_id and e.body["msg_id"] == a_id
          and e.body["from"] == city_org, "409 does not name the first reply")
    e = expect_error(Conflict, lambda: util.refuse(city_org, a_id, "too late"),
                     "refusing an answered request")
    check(e.body.get("reply_msg_id") == r_id, "409 of refuse does not name the reply")

    m = wait_state(city, a_id, ("ANSWERED",))
    check(m["to"] == util_org and m["type"] == STOP, "the record names another message")
    check(m["complete"] is True, "an answered request is not complete")
    check(m.get("reply_msg_id") == r_id, "ANSWERED without the reply's id")
    seen = [h["state"] for h in m["history"]]
    check(seen[-1] == "ANSWERED", "history does not end in ANSWERED: %s" % seen)
    ok("the municipality sees ANSWERED (history %s)" % " ".join(seen))

    r = receive(city, "all")
    check(r["from"] == util_org and r["msg_id"] == r_id and r.get("reply_to") == a_id,
          "the municipality got another message than the reply")
    check(r["payload"] == rep_payload, "the reply's payload changed on the way")
    check(r["type"] == STOP, "the reply has another type")
    check(r.get("person") == person, "the reply does not carry the municipality's own number")
    check(r["first_contact"] is False, "a reply says first contact")
    ok("the municipality received the reply")
    done = city.mark_done(util_org, r_id)
    check(done == {"from": util_org, "msg_id": r_id, "state": "DONE"}, "done: %r" % done)
    check(city.mark_done(util_org, r_id)["state"] == "DONE", "done twice is not 200 DONE")
    ok("the municipality marked the reply done (twice: 200 both times)")
    check(city.receive_message(wait=0) is None, "the inbox is not empty after done")

    # ---- a request, refused
    reason = "no contract for this customer"
    sent_b = city.send_message(util_org, START, person, {"request": "start", "date": "2025-04-01"},
                               idempotency_key="oa-refused-0001")
    b_id = sent_b["msg_id"]
    check(b_id != a_id, "two keys, one msg_id")
    ok("the key of a send the hub refused is free again (%s)" % sent_b["state"])
    d = receive(util, "requests")
    check(d["msg_id"] == b_id and d["type"] == START, "the utility got another message")
    check(d["first_contact"] is False, "the second message about the person says first contact")
    check(d["code"] != "" and "person" not in d, "code/person wrong on the second delivery")
    h = util.refuse(city_org, b_id, reason)
    check(h == {"from": city_org, "msg_id": b_id, "state": "REFUSED"}, "refuse: %r" % h)
    ok("the utility refused the second request")
    expect_error(Conflict, lambda: util.refuse(city_org, b_id, reason), "refusing twice")
    m = wait_state(city, b_id, ("REFUSED",))
    check(m.get("status") == "REFUSED_BY_RECIPIENT", "status %r" % m.get("status"))
    check(m.get("detail") == reason, "detail %r is not the reason" % m.get("detail"))
    check(m["complete"] is True, "a refused request is not complete")
    ok("the municipality sees REFUSED_BY_RECIPIENT with the reason")

    # ---- search by person
    msgs = city.search_messages(person)
    ids = [x["msg_id"] for x in msgs]
    check(ids == [a_id, b_id], "search found %d messages, not the two, oldest first" % len(ids))
    check([x["state"] for x in msgs] == ["ANSWERED", "REFUSED"], "search states wrong")
    ok("search by person finds both messages, oldest first")
    check(city.search_messages(person + "-UNKNOWN") == [], "an unknown person has messages")
    ok("search for a person without a code: an empty list")
    us = util.search_messages(person)
    check(us == [], "the utility, which never bound the number, found messages about it")
    ok("the utility's search by the number finds nothing (it never bound it)")
    expect_error(BadRequest, lambda: city.call("POST", "/v1/messages/search",
                                               "/v1/messages/search", {"who": person}),
                 "search without person")

    if a.town:
        follow_up(city, client(a.town, a.town_token_file), city_org, a.town_org, a.town_bind, person)
    print("scenario passed", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failed as e:
        print("FAIL: %s" % e, flush=True)
        sys.exit(1)
    except Exception as e:  # a SchemaError, an unexpected ApiError, a connection error
        print("FAIL: %s: %s" % (type(e).__name__, e), flush=True)
        sys.exit(1)
