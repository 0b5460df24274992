"""SMTP sink for Tessera's tests (tessera_testkit::smtp::SmtpSink).

A real SMTP server (aiosmtpd) on a free loopback port that stores each
message it accepts, byte for byte as received, in DIR/<seq>.eml, after
a few X-Sink-* header lines telling what the SMTP session saw (envelope
sender and recipients, the AUTH login, whether TLS was on).

It prints `READY <port>` on stdout once it listens, and exits when its
standard input closes (the test process is gone) or on a signal. Exit
status 3 with `UNAVAILABLE ...` on stdout: aiosmtpd is not installed.

    python3 sink.py DIR [--auth USER:PASS] [--starttls CERT KEY]
                        [--require-starttls] [--implicit-tls CERT KEY]
                        [--fail-first N]
"""

import argparse
import asyncio
import os
import ssl
import sys
import warnings

# AUTH without TLS is what the tests ask for, on loopback.
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")

try:
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
except ImportError as e:  # the test kit turns this into a skip
    print(f"UNAVAILABLE aiosmtpd cannot be imported: {e}", flush=True)
    sys.exit(3)


class Store:
    """Writes each accepted message to its own file; can refuse the first
    few with a transient 451 (to exercise a client's retry)."""

    def __init__(self, directory, fail_first):
        self.directory = directory
        self.fail_first = fail_first
        self.seq = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().startswith("reject"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.fail_first > 0:
            self.fail_first -= 1
            return "451 4.3.0 try again later"
        self.seq += 1
        tls = server.transport.get_extra_info("ssl_object") is not None
        head = [
            f"X-Sink-Mail-From: {envelope.mail_from}",
            f"X-Sink-Rcpt-To: {', '.join(envelope.rcpt_tos)}",
            f"X-Sink-Tls: {'yes' if tls else 'no'}",
        ]
        if session.authenticated:
            login = getattr(session.auth_data, "login", b"")
            if isinstance(login, bytes):
                login = login.decode("utf-8", "replace")
            head.append(f"X-Sink-Auth: {login}")
        data = envelope.original_content
        final = os.path.join(self.directory, f"{self.seq:06}.eml")
        tmp = final + ".tmp"
        with open(tmp, "wb") as f:
            f.write(("\r\n".join(head) + "\r\n").encode("utf-8"))
            f.write(data)
        # Readers list *.eml: a message appears whole or not at all.
        os.replace(tmp, final)
        return "250 OK stored"


def tls_context(cert, key):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--auth", help="USER:PASS, required before MAIL")
    parser.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--require-starttls", action="store_true")
    parser.add_argument("--implicit-tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--fail-first", type=int, default=0)
    args = parser.parse_args()

    store = Store(args.dir, args.fail_first)
    starttls = tls_context(*args.starttls) if args.starttls else None
    implicit = tls_context(*args.implicit_tls) if args.implicit_tls else None

    authenticator = None
    if args.auth:
        user, _, password = args.auth.partition(":")

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login == user.encode()
                and auth_data.password == password.encode()
            )
            # handled=False: aiosmtpd itself answers 535 on a failure.
            return AuthResult(success=ok, handled=False, auth_data=auth_data)

    def factory():
        return SMTP(
            store,
            hostname="sink.test",
            tls_context=starttls,
            require_starttls=args.require_starttls,
            auth_required=authenticator is not None,
            # Tests send credentials over loopback in the clear on purpose.
            auth_require_tls=False,
            authenticator=authenticator,
        )

    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, "127.0.0.1", 0, ssl=implicit)
    port = server.sockets[0].getsockname()[1]
    print(f"READY {port}", flush=True)

    done = asyncio.Event()

    def on_stdin():
        if not sys.stdin.buffer.read1(4096):
            done.set()

    loop.add_reader(sys.stdin.fileno(), on_stdin)
    await done.wait()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
