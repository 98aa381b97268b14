"""A client of the Renkei agent's local HTTP API (`renkei-agent http`).

Written from agents/openapi.json and proto/README.md only, as an
organization writing its own client would: Python's standard library, no
third-party module.  Every operation of the document is a method; every
error answer the document lists becomes an ApiError (a subclass per
status) carrying the answer's JSON body.  Given the document itself
(spec=), the client checks every answer's body against the schema the
document gives for that operation and status, and raises SchemaError when
it does not match.

    api = RenkeiClient("http://127.0.0.1:7780", token)      # or https://..., cafile=
    api = RenkeiClient("unix:/run/renkei-agent/api.sock", token)
    sent = api.send_message("power", "utility.supply.stop", number,
                            {"request": "stop"}, idempotency_key="order-1")
    api.get_message(sent["msg_id"])["state"]

The resident's number travels in request bodies only, never in a URL, and
this module never logs or prints anything.
"""

import http.client
import json
import re
import socket
import ssl
import urllib.parse

__all__ = [
    "ApiError", "BadRequest", "Unauthorized", "NotFound", "MethodNotAllowed",
    "Conflict", "PayloadTooLarge", "Refused", "Unavailable", "SchemaError",
    "SchemaChecker", "RenkeiClient",
]


class ApiError(Exception):
    """An answer with a status the operation documents as an error.

    status: the HTTP status; body: the answer's JSON (a dict: "error" and,
    per status, more); headers: the answer's headers (a dict, lower-case
    names)."""

    def __init__(self, status, body, headers):
        self.status = status
        self.body = body
        self.headers = headers
        self.error = body.get("error") if isinstance(body, dict) else None
        super().__init__("%d: %s" % (status, self.error))


class BadRequest(ApiError):
    """400: malformed JSON, a missing or invalid field or header (named in error)."""


class Unauthorized(ApiError):
    """401: a missing or wrong bearer token."""


class NotFound(ApiError):
    """404: no such message, or a path the API does not have."""


class MethodNotAllowed(ApiError):
    """405: the path does not take this method (headers["allow"] names the one it takes)."""


class Conflict(ApiError):
    """409: an Idempotency-Key used for another message or of unknown outcome;
    or a delivered message answered already (body["reply_msg_id"]), refused or done."""


class PayloadTooLarge(ApiError):
    """413: the body is over the limit (named in error)."""


class Refused(ApiError):
    """422: the hub refused the message (body["status"], body["detail"]), or
    the resident is not in the agent's local table."""


class Unavailable(ApiError):
    """503: the agent's store failed, out of memory, or (refuse) the hub cannot be told now."""


_ERRORS = {400: BadRequest, 401: Unauthorized, 404: NotFound, 405: MethodNotAllowed,
           409: Conflict, 413: PayloadTooLarge, 422: Refused, 503: Unavailable}


class SchemaError(Exception):
    """An answer that does not match the document."""


class SchemaChecker:
    """Checks JSON values against the subset of OpenAPI 3.0 schemas the
    document uses: $ref, type (object, array, string, integer, number,
    boolean), required, properties, items, enum, pattern, minLength,
    maxLength, minimum, maximum, format date-time.  A schema without a type
    (e.g. payload) takes any JSON value."""

    _DATE_TIME = re.compile(
        r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

    def __init__(self, document):
        self.doc = document

    @classmethod
    def load(cls, path):
        with open(path, "rb") as f:
            return cls(json.load(f))

    def resolve(self, schema):
        seen = 0
        while "$ref" in schema:
            ref = schema["$ref"]
            if not ref.startswith("#/"):
                raise SchemaError("unsupported $ref %s" % ref)
            node = self.doc
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            schema = node
            seen += 1
            if seen > 32:
                raise SchemaError("$ref loop at %s" % ref)
        return schema

    def check(self, value, schema, where="$"):
        """Raises SchemaError naming the first place value breaks schema."""
        schema = self.resolve(schema)
        t = schema.get("type")
        if t == "object":
            if not isinstance(value, dict):
                raise SchemaError("%s: expected an object" % where)
            for name in schema.get("required", []):
                if name not in value:
                    raise SchemaError("%s: required property %r missing" % (where, name))
            for name, sub in schema.get("properties", {}).items():
                if name in value:
                    self.check(value[name], sub, "%s.%s" % (where, name))
        elif t == "array":
            if not isinstance(value, list):
                raise SchemaError("%s: expected an array" % where)
            if "items" in schema:
                for i, item in enumerate(value):
                    self.check(item, schema["items"], "%s[%d]" % (where, i))
        elif t == "string":
            if not isinstance(value, str):
                raise SchemaError("%s: expected a string" % where)
            if "minLength" in schema and len(value) < schema["minLength"]:
                raise SchemaError("%s: shorter than %d" % (where, schema["minLength"]))
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                raise SchemaError("%s: longer than %d" % (where, schema["maxLength"]))
            if "pattern" in schema and re.search(schema["pattern"], value) is None:
                raise SchemaError("%s: does not match %s" % (where, schema["pattern"]))
            if schema.get("format") == "date-time" and not self._DATE_TIME.match(value):
                raise SchemaError("%s: not an RFC 3339 date-time" % where)
        elif t in ("integer", "number"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise SchemaError("%s: expected a %s" % (where, t))
            if t == "integer" and isinstance(value, float) and not value.is_integer():
                raise SchemaError("%s: expected an integer" % where)
            if "minimum" in schema and value < schema["minimum"]:
                raise SchemaError("%s: below %s" % (where, schema["minimum"]))
            if "maximum" in schema and value > schema["maximum"]:
                raise SchemaError("%s: above %s" % (where, schema["maximum"]))
        elif t == "boolean":
            if not isinstance(value, bool):
                raise SchemaError("%s: expected a boolean" % where)
        elif t is not None:
            raise SchemaError("%s: schema type %r not supported" % (where, t))
        if "enum" in schema and value not in schema["enum"]:
            raise SchemaError("%s: %r not one of %s" % (where, value, schema["enum"]))

    def operation(self, template, method):
        try:
            return self.doc["paths"][template][method.lower()]
        except KeyError:
            raise SchemaError("the document has no %s %s" % (method, template)) from None

    def check_answer(self, template, method, status, body, has_body):
        """Checks an answer of operation (template, method): its status must
        be one the operation lists (or 404/405, which the document's
        description allows everywhere), and its body must match that
        status's schema."""
        responses = self.operation(template, method)["responses"]
        entry = responses.get(str(status))
        if entry is None:
            if status in (404, 405):
                entry = {"content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Error"}}}}
            else:
                raise SchemaError("%s %s: status %d is not documented" % (method, template, status))
        content = entry.get("content")
        if content is None:
            if has_body:
                raise SchemaError("%s %s %d: the document says no body, one came"
                                  % (method, template, status))
            return
        if not has_body:
            raise SchemaError("%s %s %d: a body was expected" % (method, template, status))
        self.check(body, content["application/json"]["schema"], "%s %s %d" % (method, template, status))


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self._path)
        except OSError:
            s.close()
            raise
        self.sock = s


class Answer:
    """One HTTP answer: status, headers (lower-case names), raw body bytes
    and, when it is JSON, json."""

    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        self.json = None
        if raw:
            self.json = json.loads(raw.decode("utf-8"))


class RenkeiClient:
    """base_url: http://HOST:PORT, https://HOST:PORT or unix:/PATH.
    token: the line of the agent's --token-file.  timeout: seconds for an
    answer (a long-poll adds its wait).  cafile: for https, the PEM
    certificate to trust.  spec: a SchemaChecker (or the path of
    openapi.json) to check every answer against."""

    def __init__(self, base_url, token, timeout=30.0, cafile=None, spec=None):
        self.token = token
        self.timeout = timeout
        self._unix = None
        self._tls = None
        if base_url.startswith("unix:"):
            self._unix = base_url[len("unix:"):]
        else:
            u = urllib.parse.urlsplit(base_url)
            if u.scheme not in ("http", "https") or not u.hostname:
                raise ValueError("base_url must be http://, https:// or unix:")
            self._host = u.hostname
            self._port = u.port or (443 if u.scheme == "https" else 80)
            if u.scheme == "https":
                self._tls = ssl.create_default_context(cafile=cafile)
        if isinstance(spec, str):
            spec = SchemaChecker.load(spec)
        self.spec = spec

    # ---------------------------------------------------------------- transport

    def _connection(self, timeout):
        if self._unix is not None:
            return _UnixConnection(self._unix, timeout)
        if self._tls is not None:
            return http.client.HTTPSConnection(self._host, self._port, timeout=timeout,
                                               context=self._tls)
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, token=True, timeout=None):
        """One request, without interpreting the answer.  body: bytes (sent
        as application/json) or None.  token: True (this client's), False
        (no Authorization header) or a string (that token)."""
        h = {"Accept": "application/json"}
        if token is True:
            h["Authorization"] = "Bearer " + self.token
        elif token:
            h["Authorization"] = "Bearer " + token
        if body is not None:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        conn = self._connection(self.timeout if timeout is None else timeout)
        try:
            conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            raw = resp.read()
            return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, raw)
        finally:
            conn.close()

    def call(self, method, template, path, body=None, headers=None, ok=(200,), token=True,
             timeout=None):
        """Sends an operation's request, checks the answer against the
        document (if spec was given) and returns its JSON (None for a
        success without a body); raises the ApiError of an error status."""
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode("utf-8")
        return self.interpret(method, template,
                              self.request(method, path, data, headers, token, timeout), ok)

    def interpret(self, method, template, answer, ok=(200,)):
        if self.spec is not None:
            self.spec.check_answer(template, method, answer.status, answer.json, bool(answer.raw))
        if answer.status in ok:
            return answer.json
        cls = _ERRORS.get(answer.status, ApiError)
        raise cls(answer.status, answer.json, answer.headers)

    @staticmethod
    def _seg(s):
        return urllib.parse.quote(s, safe="")

    # ---------------------------------------------------------------- operations

    def send_message(self, to, type, person, payload, idempotency_key, reply_to=None,
                     no_reply=None):
        """sendMessage: POST /v1/messages.  Returns Sent {msg_id, state}."""
        body = {"to": to, "type": type, "person": person, "payload": payload}
        if reply_to is not None:
            body["reply_to"] = reply_to
        if no_reply is not None:
            body["no_reply"] = bool(no_reply)
        return self.call("POST", "/v1/messages", "/v1/messages", body,
                         {"Idempotency-Key": idempotency_key}, ok=(202,))

    def get_message(self, msg_id):
        """getMessage: GET /v1/messages/{msg_id}.  Returns Message."""
        return self.call("GET", "/v1/messages/{msg_id}", "/v1/messages/" + self._seg(msg_id))

    def search_messages(self, person):
        """searchMessages: POST /v1/messages/search.  Returns the list of Message."""
        return self.call("POST", "/v1/messages/search", "/v1/messages/search",
                         {"person": person})["messages"]

    def receive_message(self, wait=0, what="all"):
        """receiveMessage: GET /v1/inbox.  Returns a Delivery, or None (204)."""
        q = urllib.parse.urlencode({"wait": int(wait), "what": what})
        return self.call("GET", "/v1/inbox", "/v1/inbox?" + q, ok=(200, 204),
                         timeout=self.timeout + wait)

    def _inbox_path(self, from_org, msg_id, verb):
        return "/v1/inbox/%s/%s/%s" % (self._seg(from_org), self._seg(msg_id), verb)

    def reply(self, from_org, msg_id, payload):
        """replyToMessage: POST /v1/inbox/{from}/{msg_id}/reply.  Returns Sent."""
        return self.call("POST", "/v1/inbox/{from}/{msg_id}/reply",
                         self._inbox_path(from_org, msg_id, "reply"), {"payload": payload},
                         ok=(202,))

    def refuse(self, from_org, msg_id, reason):
        """refuseMessage: POST /v1/inbox/{from}/{msg_id}/refuse.  Returns Handled."""
        return self.call("POST", "/v1/inbox/{from}/{msg_id}/refuse",
                         self._inbox_path(from_org, msg_id, "refuse"), {"reason": reason})

    def mark_done(self, from_org, msg_id):
        """markMessageDone: POST /v1/inbox/{from}/{msg_id}/done.  Returns Handled."""
        return self.call("POST", "/v1/inbox/{from}/{msg_id}/done",
                         self._inbox_path(from_org, msg_id, "done"))
