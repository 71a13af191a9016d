"""STARTTLS and implicit TLS with python's imaplib, verifying the server's certificate.

usage: tls.py HOST PLAIN_PORT TLS_PORT CAFILE NUMBER PIN
"""
import imaplib
import json
import socket
import ssl
import sys

host, plain, implicit, cafile, number, pin = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
ctx = ssl.create_default_context(cafile=cafile)
out = {}

M = imaplib.IMAP4(host, plain)
out["plain_caps"] = sorted(M.capabilities)
try:
    M.login(number, pin)
    out["plain_login"] = "OK"
except imaplib.IMAP4.error as e:
    out["plain_login"] = str(e)
M.starttls(ssl_context=ctx)
out["tls_caps"] = sorted(M.capabilities)
out["starttls_login"] = M.login(number, pin)[0]
out["starttls_select"] = M.select("INBOX")[0]
M.logout()

M = imaplib.IMAP4_SSL(host, implicit, ssl_context=ctx)
out["implicit_version"] = M.sock.version()
# AUTHENTICATE PLAIN through imaplib's continuation exchange (no initial response).
out["implicit_login"] = M.authenticate("PLAIN", lambda _: ("\0%s\0%s" % (number, pin)).encode())[0]
M.logout()


def ending(tls):
    """Logs out and reads to the end: "close_notify" when the server closed TLS properly."""
    tls.sendall(("a LOGIN %s %s\r\nb LOGOUT\r\n" % (number, pin)).encode())
    try:
        while tls.recv(4096):
            pass
        return "close_notify"
    except ssl.SSLEOFError:
        return "no close_notify"


raw = socket.create_connection((host, implicit), timeout=10)
out["implicit_end"] = ending(ctx.wrap_socket(raw, server_hostname=host, suppress_ragged_eofs=False))
raw = socket.create_connection((host, plain), timeout=10)
f = raw.makefile("rb")
f.readline()
raw.sendall(b"s STARTTLS\r\n")
f.readline()
out["starttls_end"] = ending(ctx.wrap_socket(raw, server_hostname=host, suppress_ragged_eofs=False))
print(json.dumps(out))
