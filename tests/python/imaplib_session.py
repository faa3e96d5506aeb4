"""A scripted session with Python's standard imaplib against Mailroom.

Run by tests/tests/imap_python.rs with the server's host and port; alice
(password pw-alice) has one message in INBOX, and bob exists. Exits
non-zero with a message on the first thing that does not work.
"""

import imaplib
import sys


def check(ok, what):
    if not ok:
        sys.exit(f"FAILED: {what}")


def main(host, port):
    m = imaplib.IMAP4(host, int(port), timeout=30)
    typ, _ = m.login("alice", "pw-alice")
    check(typ == "OK", "login")

    typ, names = m.list()
    check(typ == "OK" and any(b'"INBOX"' in n or n.endswith(b" INBOX") for n in names), f"LIST {names}")

    typ, data = m.select("INBOX")
    check(typ == "OK" and data == [b"1"], f"SELECT {data}")

    typ, data = m.fetch("1", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)] RFC822.SIZE)")
    check(typ == "OK" and b"Subject: hello from python" in data[0][1], f"FETCH {data}")

    typ, data = m.search(None, "SUBJECT", '"from python"', "UNSEEN")
    check(typ == "OK" and data == [b"1"], f"SEARCH {data}")

    typ, data = m.store("1", "+FLAGS", "(\\Flagged \\Seen)")
    check(typ == "OK" and b"\\Flagged" in data[0] and b"\\Seen" in data[0], f"STORE {data}")

    typ, data = m.search(None, "FLAGGED")
    check(data == [b"1"], f"SEARCH FLAGGED {data}")

    typ, data = m.create("Shared")
    check(typ == "OK", f"CREATE {data}")
    typ, data = m.setacl("Shared", "bob", "lrs")
    check(typ == "OK", f"SETACL {data}")
    typ, data = m.getacl("Shared")
    check(typ == "OK" and b"bob@example.com lrs" in data[0], f"GETACL {data}")
    typ, data = m.myrights("Shared")
    check(typ == "OK" and data[0].endswith(b"lrswipkxtea"), f"MYRIGHTS {data}")
    # imaplib has no LISTRIGHTS method; its generic command path does.
    imaplib.Commands["LISTRIGHTS"] = ("AUTH", "SELECTED")
    typ, data = m._simple_command("LISTRIGHTS", "Shared", "bob")
    typ, data = m._untagged_response(typ, data, "LISTRIGHTS")
    check(typ == "OK" and data[0].startswith(b"Shared bob"), f"LISTRIGHTS {data}")
    typ, data = m.deleteacl("Shared", "bob")
    check(typ == "OK", f"DELETEACL {data}")
    typ, data = m.getacl("Shared")
    check(typ == "OK" and b"bob" not in data[0], f"GETACL after DELETEACL {data}")

    try:
        m.setacl("Shared", "bob", "lrq")
        check(False, "SETACL with an unknown right was accepted")
    except imaplib.IMAP4.error as e:
        check("BAD" in str(e) or "q" in str(e), f"SETACL error {e}")

    typ, data = m.namespace()
    check(typ == "OK" and b'(("~" "/"))' in data[0], f"NAMESPACE {data}")

    m.close()
    m.logout()
    print("imaplib session: all good")


if __name__ == "__main__":
    main(*sys.argv[1:3])
