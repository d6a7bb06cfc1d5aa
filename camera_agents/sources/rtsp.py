"""Why an RTSP camera cannot be opened, in words an installer can act on.

OpenCV only says that a stream did not open. When it does not, ``diagnose_rtsp`` asks the camera
itself with one RTSP ``DESCRIBE`` (answering a basic or digest challenge with the URL's user and
password) and turns the answer into a sentence: nothing listens there, the camera wants a user
name and password, it refused the ones given, there is no stream at that path, or it answers but
the stream cannot be decoded. The password never appears in the sentence.
"""

from __future__ import annotations

import base64
import hashlib
import re
import socket
from urllib.parse import unquote, urlsplit, urlunsplit

from camera_agents.sources import Diagnosis


def _request(sock: socket.socket, url: str, cseq: int, authorization: str | None) -> tuple[int, dict[str, str]]:
    lines = [f"DESCRIBE {url} RTSP/1.0", f"CSeq: {cseq}", "Accept: application/sdp", "User-Agent: ioc-agent"]
    if authorization:
        lines.append(f"Authorization: {authorization}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    status_line, *header_lines = head.split("\r\n")
    match = re.match(r"RTSP/\d\.\d (\d{3})", status_line)
    if match is None:
        raise ValueError(f"not an RTSP answer: {status_line[:60]!r}")
    headers: dict[str, str] = {}
    for line in header_lines:
        key, _, value = line.partition(":")
        headers.setdefault(key.strip().lower(), value.strip())
    return int(match.group(1)), headers


def _authorization(challenge: str, user: str, password: str, url: str) -> str | None:
    scheme = challenge.split(" ", 1)[0].lower()
    if scheme == "basic":
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    if scheme == "digest":
        fields = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))
        realm, nonce = fields.get("realm", ""), fields.get("nonce", "")
        ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
        ha2 = hashlib.md5(f"DESCRIBE:{url}".encode()).hexdigest()
        response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
        return f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{url}", response="{response}"'
    return None


def diagnose_rtsp(url: str, *, timeout_s: float = 3.0) -> Diagnosis:
    """Why ``url`` does not play (see the module's doc): to fix when the camera answered with a refusal."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 554
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    bare = urlunsplit(parts._replace(netloc=f"{host}:{port}"))  # no credentials on the wire's request line
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.settimeout(timeout_s)
            status, headers = _request(sock, bare, 1, None)
            if status == 401:
                challenge = headers.get("www-authenticate", "")
                if not user:
                    return Diagnosis("the camera wants a user name and password (RTSP 401 Unauthorized): put them in the URL, rtsp://USER:PASSWORD@host/...", to_fix=True)
                authorization = _authorization(challenge, user, password, bare)
                if authorization is None:
                    return Diagnosis(f"the camera asks for an authentication ioc does not know ({challenge.split(' ', 1)[0] or 'none given'})", to_fix=True)
                status, headers = _request(sock, bare, 2, authorization)
                if status == 401:
                    return Diagnosis(f"the camera refused the user name {user!r} or its password (RTSP 401 Unauthorized)", to_fix=True)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return Diagnosis(f"no RTSP server answers at {host}:{port} ({reason})", to_fix=False)
    except ValueError as exc:
        return Diagnosis(f"{host}:{port} does not speak RTSP ({exc})", to_fix=True)
    if status == 404:
        return Diagnosis(f"the camera has no stream at path {parts.path or '/'!r} (RTSP 404 Not Found)", to_fix=True)
    if status >= 400:
        # 5xx: the camera is there but in trouble (busy, starting up): it may serve the stream later.
        return Diagnosis(f"the camera refused the stream (RTSP {status})", to_fix=status < 500)
    return Diagnosis("the camera answers, but its stream could not be opened or decoded (codec, or the stream broke at once)", to_fix=True)
