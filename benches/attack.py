#!/usr/bin/env python3
"""Attackers for benches/attack.sh (standard library only).

    python3 benches/attack.py prepare BASE ADMIN_TOKEN PASSWORD   # prints JSON
    python3 benches/attack.py ATTACK BASE SECONDS ARTIFACTS_JSON LEGIT_CLIENT

Each attack runs for SECONDS from loopback addresses other than 127.0.0.1
(the legitimate client's), then prints one line: requests sent and
answers by status. Attacks:

  lockout        wrong secrets for the legitimate client's id, 8 addresses
  unknown        made-up client ids, 64 addresses (failed-auth log growth)
  slow-bodies    bodies that trickle in a byte a second, 250 connections
  connections    idle connections, as many as one address may open and more
  logins         unknown usernames at /login from fresh addresses (argon2)
  replays        a retired refresh token and a used code with a wrong
                 PKCE verifier, replayed in a loop
  registrations  open dynamic registration from fresh addresses
"""

import base64
import collections
import hashlib
import html
import http.client
import json
import os
import re
import secrets
import socket
import sys
import threading
import time
import urllib.parse


class Conn:
    """One keep-alive HTTP/1.1 connection from a chosen source address."""

    def __init__(self, base, source):
        url = urllib.parse.urlsplit(base)
        self.host, self.port, self.source = url.hostname, url.port, source
        self.c = None
        self.cookies = {}

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in range(2):
            try:
                if self.c is None:
                    self.c = http.client.HTTPConnection(
                        self.host, self.port, timeout=10, source_address=(self.source, 0)
                    )
                self.c.request(method, path, body=body, headers=headers)
                r = self.c.getresponse()
                data = r.read()
                for k, v in r.getheaders():
                    if k.lower() == "set-cookie":
                        name, _, value = v.split(";", 1)[0].partition("=")
                        self.cookies[name] = value
                if r.getheader("connection", "").lower() == "close":
                    self.close()
                return r.status, r.getheader("location"), data
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == 1:
                    return 0, None, b""

    def form(self, path, fields, headers=None):
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        h.update(headers or {})
        return self.request("POST", path, urllib.parse.urlencode(fields), h)

    def close(self):
        if self.c is not None:
            self.c.close()
        self.c = None


def hidden(page, name):
    m = re.search(rf'name="{name}" value="([^"]*)"', page.decode())
    return html.unescape(m.group(1)) if m else None


def basic(client_id, secret):
    raw = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(secret, safe='')}"
    return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}


def addresses(second_octet, count):
    """`count` loopback addresses in 127.<second_octet>.x.y."""
    return [f"127.{second_octet}.{i // 250}.{i % 250 + 1}" for i in range(count)]


# --- preparing a used code and a retired refresh token -----------------

REDIRECT = "http://127.0.0.1:9/cb"


def prepare(base, admin, password):
    admin_conn = Conn(base, "127.0.0.1")
    body = json.dumps(
        {
            "client_id": "bench-replay-app",
            "client_name": "replay target",
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "redirect_uris": [REDIRECT],
            "scope": "profile",
            "refresh_token_enabled": True,
        }
    )
    status, _, data = admin_conn.request(
        "POST",
        "/api/admin/oauth-clients",
        body,
        {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"},
    )
    assert status in (201, 409), (status, data)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": "bench-replay-app",
            "redirect_uri": REDIRECT,
            "scope": "profile",
            "state": "s",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    user = Conn(base, "127.0.0.1")
    status, _, page = user.request("GET", f"/oauth/authorize?{query}")
    status, back, page = user.form(
        "/login",
        {
            "csrf": hidden(page, "csrf"),
            "return_to": hidden(page, "return_to"),
            "username": "admin",
            "password": password,
        },
    )
    assert status == 303, (status, page[:300])
    status, location, page = user.request("GET", back)
    if status == 200:
        fields = [("csrf", hidden(page, "csrf")), ("request", hidden(page, "request")), ("decision", "approve")]
        status, location, page = user.request(
            "POST",
            "/oauth/authorize",
            urllib.parse.urlencode(fields),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert status in (302, 303), (status, page[:300])
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
    client = Conn(base, "127.0.0.1")
    status, _, data = client.form(
        "/oauth/token",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": "bench-replay-app",
            "code_verifier": verifier,
        },
    )
    assert status == 200, (status, data)
    first = json.loads(data)["refresh_token"]
    status, _, data = client.form(
        "/oauth/token",
        {"grant_type": "refresh_token", "refresh_token": first, "client_id": "bench-replay-app"},
    )
    assert status == 200, (status, data)
    return {"used_code": code, "retired_refresh_token": first}


# --- attacks ------------------------------------------------------------


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.statuses = collections.Counter()

    def add(self, status):
        with self.lock:
            self.statuses[status] += 1


def run_threads(n, target, seconds):
    stop = time.monotonic() + seconds
    threads = [threading.Thread(target=target, args=(i, stop), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 30)


def attack(name, base, seconds, artifacts, legit):
    tally = Tally()

    if name == "lockout":
        def worker(i, stop):
            c = Conn(base, f"127.0.0.{2 + i}")
            while time.monotonic() < stop:
                status, _, _ = c.form("/oauth/token", {"grant_type": "client_credentials"}, basic(legit, "alcs_wrong"))
                tally.add(status)
        run_threads(8, worker, seconds)

    elif name == "unknown":
        sources = addresses(3, 64)

        def worker(i, stop):
            conns = [Conn(base, s) for s in sources[i::8]]
            n = 0
            while time.monotonic() < stop:
                c = conns[n % len(conns)]
                status, _, _ = c.form(
                    "/oauth/token", {"grant_type": "client_credentials"}, basic(f"guess-{secrets.token_hex(8)}", "x")
                )
                tally.add(status)
                n += 1
        run_threads(8, worker, seconds)

    elif name == "slow-bodies":
        url = urllib.parse.urlsplit(base)

        def worker(i, stop):
            while time.monotonic() < stop:
                try:
                    s = socket.create_connection((url.hostname, url.port), timeout=30, source_address=("127.0.0.50", 0))
                    tally.add("opened")
                    s.sendall(
                        b"POST /oauth/token HTTP/1.1\r\nHost: x\r\n"
                        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
                    )
                    s.settimeout(1)
                    while time.monotonic() < stop:
                        s.sendall(b"a")
                        try:
                            answer = s.recv(64)
                        except socket.timeout:
                            continue
                        tally.add(answer.split(b"\r\n")[0].decode(errors="replace") or "closed")
                        break
                    s.close()
                except OSError:
                    tally.add("closed")
                    time.sleep(0.2)
        run_threads(250, worker, seconds + 5)

    elif name == "connections":
        url = urllib.parse.urlsplit(base)
        held = []
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            try:
                s = socket.create_connection((url.hostname, url.port), timeout=5, source_address=("127.0.0.51", 0))
                held.append(s)
                tally.add("opened")
            except OSError:
                tally.add("refused")
            if len(held) >= 1000:
                # Probe which of them the server still serves, drop the rest.
                alive = []
                for s in held:
                    try:
                        s.settimeout(0.001)
                        if s.recv(1) == b"":
                            s.close()
                            tally.add("closed by server")
                            continue
                    except (BlockingIOError, socket.timeout):
                        pass
                    except OSError:
                        s.close()
                        continue
                    alive.append(s)
                held = alive
                time.sleep(0.5)
        for s in held:
            s.close()

    elif name == "logins":
        sources = addresses(4, 60_000)

        def worker(i, stop):
            n = i
            while time.monotonic() < stop:
                c = Conn(base, sources[n % len(sources)])
                n += 32
                status, _, page = c.request("GET", "/oauth/device")
                csrf = hidden(page, "csrf")
                if csrf is None:
                    tally.add(status)
                    continue
                status, _, _ = c.form(
                    "/login",
                    {"csrf": csrf, "return_to": "/oauth/device", "username": secrets.token_hex(8), "password": "x"},
                )
                tally.add(status)
                c.close()
        run_threads(32, worker, seconds)

    elif name == "replays":
        def worker(i, stop):
            c = Conn(base, f"127.0.0.{60 + i}")
            n = 0
            while time.monotonic() < stop:
                if n % 2:
                    fields = {
                        "grant_type": "refresh_token",
                        "refresh_token": artifacts["retired_refresh_token"],
                        "client_id": "bench-replay-app",
                    }
                else:
                    fields = {
                        "grant_type": "authorization_code",
                        "code": artifacts["used_code"],
                        "redirect_uri": REDIRECT,
                        "client_id": "bench-replay-app",
                        "code_verifier": secrets.token_urlsafe(48),
                    }
                status, _, _ = c.form("/oauth/token", fields)
                tally.add(status)
                n += 1
        run_threads(8, worker, seconds)

    elif name == "registrations":
        sources = addresses(5, 60_000)

        def worker(i, stop):
            n = i
            while time.monotonic() < stop:
                c = Conn(base, sources[n % len(sources)])
                n += 8
                body = json.dumps({"client_name": "spam", "redirect_uris": ["http://127.0.0.1/cb"]})
                status, _, _ = c.request("POST", "/oauth/register", body, {"Content-Type": "application/json"})
                tally.add(status)
                c.close()
        run_threads(8, worker, seconds)

    else:
        sys.exit(f"unknown attack {name}")

    total = sum(tally.statuses.values())
    answers = ", ".join(f"{k}: {v}" for k, v in sorted(tally.statuses.items(), key=lambda kv: str(kv[0])))
    print(f"{total} {answers}")


if __name__ == "__main__":
    if sys.argv[1] == "prepare":
        print(json.dumps(prepare(*sys.argv[2:5])))
    else:
        name, base, seconds, artifacts, legit = sys.argv[1:6]
        attack(name, base, float(seconds), json.loads(artifacts), legit)
