"""OMTP custom commands and greeting upload with python's imaplib.

usage: custom.py HOST PORT NUMBER PIN NEWPIN GREETING_WAV_FILE
"""
import email.mime.audio
import email.mime.multipart
import email.mime.text
import imaplib
import json
import re
import sys

host, port, number, pin, newpin, wavfile = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
out = {}
M = imaplib.IMAP4(host, port)
M.login(number, pin)


def xatom(*args):
    typ, data = M.xatom(*args)
    return typ + " " + b" ".join(d for d in data if d).decode()


out["too_short"] = xatom("XCHANGE_TUI_PWD", "PWD=12", "OLD_PWD=" + pin)
out["invalid_chars"] = xatom("XCHANGE_TUI_PWD", "PWD=12ab", "OLD_PWD=" + pin)
out["mismatch"] = xatom("XCHANGE_TUI_PWD", "PWD=" + newpin, "OLD_PWD=0000")
out["changed"] = xatom("XCHANGE_TUI_PWD", "PWD=" + newpin, "OLD_PWD=" + pin)
out["lang"] = xatom("XCHANGE_VM_LANG", "LANG=de")
out["lang_bad"] = xatom("XCHANGE_VM_LANG", "LANG=???")

# Greeting upload, OMTP style: a multipart message with X-CNS-Greeting-Type, activated with
# the $CNS-Greeting-On flag.
with open(wavfile, "rb") as f:
    wav = f.read()
msg = email.mime.multipart.MIMEMultipart()
msg["X-CNS-Greeting-Type"] = "busy-greeting"
msg["Subject"] = "busy greeting"
msg.attach(email.mime.text.MIMEText("greeting"))
msg.attach(email.mime.audio.MIMEAudio(wav, "wav"))
typ, data = M.append("Greetings", "($CNS-Greeting-On)", None, msg.as_bytes())
out["append"] = typ
typ, data = M.append("INBOX", None, None, msg.as_bytes())
out["append_inbox"] = typ
typ, data = M.select("Greetings")
out["greetings_exists"] = int(data[0])
typ, data = M.fetch("1", "(FLAGS BODY.PEEK[HEADER.FIELDS (X-CNS-Greeting-Type)] BODY.PEEK[2])")
out["greeting_flags"] = re.search(r"FLAGS \(([^)]*)\)", data[0][0].decode()).group(1)
out["greeting_type"] = data[0][1].decode().strip()
M.logout()

# The new PIN works on a fresh session; the old one does not.
M = imaplib.IMAP4(host, port)
out["login_new"] = M.login(number, newpin)[0]
M.logout()
M = imaplib.IMAP4(host, port)
try:
    M.login(number, pin)
    out["login_old"] = "OK"
except imaplib.IMAP4.error as e:
    out["login_old"] = str(e)
print(json.dumps(out))
