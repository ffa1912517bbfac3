#!/usr/bin/env python3
"""Minimal Docker registry v2 token server (Bearer auth) for tests, loopback only.

usage: tokserver.py PORT KEY CERT USER PASS ANONYMOUS_PULL(yes|no)

Answers GET /token?service=..&scope=repository:NAME:pull,push with a JWT (RS256, x5c header)
signed with KEY via the openssl CLI. Basic credentials USER:PASS get the actions asked for;
anonymous clients get `pull` when ANONYMOUS_PULL is yes, nothing otherwise. Prints `ready`.
"""
import base64, http.server, json, subprocess, sys, time, urllib.parse, uuid

port, key, cert, user, pw, anonymous_pull = sys.argv[1:7]
der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], capture_output=True, check=True).stdout
b64u = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        authed = self.headers.get("Authorization", "") == "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()
        access = []
        for scope in query.get("scope", []):
            typ, name, actions = scope.split(":", 2)
            wanted = actions.split(",")
            granted = wanted if authed else [a for a in wanted if a == "pull" and anonymous_pull == "yes"]
            access.append({"type": typ, "name": name, "actions": granted})
        now = int(time.time())
        claims = {"iss": "test-issuer", "sub": user if authed else "", "aud": query.get("service", [""])[0],
                  "exp": now + 300, "nbf": now - 10, "iat": now, "jti": str(uuid.uuid4()), "access": access}
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        signing_input = (b64u(json.dumps(header).encode()) + "." + b64u(json.dumps(claims).encode())).encode()
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing_input,
                                   capture_output=True, check=True).stdout
        token = signing_input.decode() + "." + b64u(signature)
        body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", int(port)), Handler)
print("ready", flush=True)
server.serve_forever()
