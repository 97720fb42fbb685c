#!/usr/bin/python3
"""Freigabe's test SMTP server: accepts mail on loopback and stores every message as a file.

Runs on Debian's python3-aiosmtpd (1.4.x) with Debian's /usr/bin/python3.

Each accepted message is written atomically (temporary file, then rename) as
    <mail-dir>/<UTC timestamp>-<seq>.eml
containing these headers, prepended to the raw message bytes as received:
    X-Freigabe-Envelope-From: <MAIL FROM address>
    X-Freigabe-Envelope-To: <RCPT TO addresses, comma separated>
    X-Freigabe-TLS: yes|no                   (STARTTLS was used)
    X-Freigabe-Auth: <login>|none            (AUTH login name)
    X-Freigabe-Mail-Options: <MAIL FROM parameters, e.g. SMTPUTF8 BODY=8BITMIME>

Features: STARTTLS (--cert/--key), AUTH PLAIN and LOGIN (only after STARTTLS unless
--auth-without-tls; optional unless --auth-required), 8BITMIME, SMTPUTF8.

Failure injection for tests, by the local part of a recipient:
    reject...@...    -> 550 (permanent failure for that recipient)
    tempfail...@...  -> 451 (temporary failure for that recipient)
and by the client's EHLO name (Freigabe sends its mail.host_name; each test uses a name of its own):
    dropdata-...     -> the first time a Message-ID is sent, the connection is closed after its
                        content arrived, before any answer (a connection lost in the middle of DATA,
                        as the client sees it); nothing is stored
    busy-...         -> the first two sessions of that name get "421 4.3.2" to MAIL FROM (a server
                        that is overloaded for a while)
"""

import argparse
import asyncio
import datetime
import email.parser
import email.policy
import hmac
import itertools
import os
import signal
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class FileHandler:
    def __init__(self, mail_dir: str):
        self.mail_dir = mail_dir
        self.tmp_dir = os.path.join(mail_dir, ".tmp")
        os.makedirs(self.tmp_dir, exist_ok=True)
        self.seq = itertools.count(1)
        self.dropped_message_ids: set[str] = set()
        self.busy_sessions: dict[str, int] = {}

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        name = (session.host_name or "").lower()
        if name.startswith("busy-"):
            refused = self.busy_sessions.get(name, 0)
            if refused < 2:
                self.busy_sessions[name] = refused + 1
                print(f"busy: 421 to {name} ({refused + 1} of 2)", flush=True)
                return "421 4.3.2 Service not available, try again later (test)"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.rsplit("@", 1)[0].lower()
        if local.startswith("reject"):
            return "550 5.1.1 Mailbox unavailable (test rejection)"
        if local.startswith("tempfail"):
            return "451 4.3.0 Temporary failure (test)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        login = "none"
        if session.authenticated and isinstance(session.auth_data, LoginPassword):
            login = session.auth_data.login.decode("utf-8", "replace")
        header = (
            f"X-Freigabe-Envelope-From: {envelope.mail_from or '<>'}\r\n"
            f"X-Freigabe-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
            f"X-Freigabe-TLS: {'yes' if session.ssl is not None else 'no'}\r\n"
            f"X-Freigabe-Auth: {login}\r\n"
            f"X-Freigabe-Mail-Options: {' '.join(envelope.mail_options)}\r\n"
        ).encode("utf-8")
        content = envelope.original_content
        if content is None:
            content = envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8")
        if (session.host_name or "").lower().startswith("dropdata-"):
            headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(content)
            message_id = str(headers.get("Message-ID", ""))
            if message_id not in self.dropped_message_ids:
                self.dropped_message_ids.add(message_id)
                print(f"dropdata: closed the connection during {message_id}", flush=True)
                server.transport.close()
                return "451 4.3.0 never sent: the connection is closed (test)"
        while True:
            now = datetime.datetime.now(datetime.timezone.utc)
            name = f"{now:%Y%m%dT%H%M%S.%f}Z-{next(self.seq):06d}.eml"
            final = os.path.join(self.mail_dir, name)
            if not os.path.exists(final):
                break
        tmp = os.path.join(self.tmp_dir, name)
        with open(tmp, "wb") as f:
            f.write(header)
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, final)
        print(f"stored {name} from={envelope.mail_from} to={envelope.rcpt_tos} "
              f"tls={session.ssl is not None} auth={login}", flush=True)
        return "250 OK: queued as " + name


def make_authenticator(user: str, password: str):
    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and hmac.compare_digest(auth_data.login, user.encode())
            and hmac.compare_digest(auth_data.password, password.encode())
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)
    return authenticator


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mail-dir", required=True)
    p.add_argument("--pid-file")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--user")
    p.add_argument("--password-file", help="file holding the AUTH password (not on the command line)")
    p.add_argument("--auth-required", action="store_true")
    p.add_argument("--auth-without-tls", action="store_true", help="offer AUTH before STARTTLS too")
    args = p.parse_args()

    tls_context = None
    if args.cert:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(args.cert, args.key)
    authenticator = None
    if args.user and args.password_file:
        with open(args.password_file, encoding="utf-8") as f:
            password = f.read().strip()
        authenticator = make_authenticator(args.user, password)

    handler = FileHandler(args.mail_dir)
    loop = asyncio.get_running_loop()

    def factory():
        return SMTP(
            handler,
            hostname="localhost",
            ident="Freigabe test SMTP sink",
            enable_SMTPUTF8=True,
            decode_data=False,
            tls_context=tls_context,
            require_starttls=False,
            authenticator=authenticator,
            auth_required=args.auth_required,
            auth_require_tls=not args.auth_without_tls,
            loop=loop,
        )

    server = await loop.create_server(factory, host=args.host, port=args.port, reuse_address=True)
    if args.pid_file:
        tmp = args.pid_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{os.getpid()}\n")
        os.rename(tmp, args.pid_file)
    print(f"listening on {args.host}:{args.port}, storing mail in {args.mail_dir}", flush=True)

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()
    if args.pid_file:
        try:
            os.unlink(args.pid_file)
        except FileNotFoundError:
            pass
    print("stopped", flush=True)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except OSError as e:
        print(f"smtp-sink: {e}", file=sys.stderr)
        sys.exit(1)
