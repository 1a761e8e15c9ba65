#!/usr/bin/env python3
"""Tiny QMP client for the guest tests (standard library only).

    qmp.py [--timeout S] SOCKET COMMAND [JSON_ARGUMENTS] [COMMAND [JSON_ARGUMENTS]]...

Connects to a QEMU monitor started with -qmp unix:SOCKET,server=on,wait=off,
negotiates capabilities (qmp_capabilities) and runs the commands in order in
that one session. A word starting with "{" is the arguments object of the
command before it. Each command's "return" is printed as one line of compact
JSON (keys sorted). Asynchronous events are skipped.

Exit status: 0 when every command succeeded; 1 when QEMU answered a command
with an error ("qmp: COMMAND: CLASS: DESCRIPTION" on stderr, later commands not
run); 2 when the monitor cannot be reached, times out (--timeout, default 10 s
per reply) or closes the connection; 64 on a usage error.

    qmp.py "$tmp/qmp.sock" migrate '{"uri": "unix:/tmp/mig.sock"}'
    qmp.py "$tmp/qmp.sock" query-migrate     # {"status":"active",...}
"""

import json
import socket
import sys


class QMPError(Exception):
    """QEMU answered a command with an error."""


class QMP:
    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.rfile = self.sock.makefile("rb")
        greeting = self._read()
        if "QMP" not in greeting:
            raise ConnectionError(f"not a QMP greeting: {greeting}")
        self.command("qmp_capabilities")

    def _read(self):
        line = self.rfile.readline()
        if not line:
            raise ConnectionError("QEMU closed the monitor connection")
        return json.loads(line)

    def command(self, name, args=None):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._read()
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                err = reply["error"]
                raise QMPError(f"{name}: {err.get('class')}: {err.get('desc')}")
            # anything else is an event: skip it

    def close(self):
        self.rfile.close()
        self.sock.close()


def main(argv):
    timeout = 10.0
    if len(argv) >= 2 and argv[0] == "--timeout":
        timeout = float(argv[1])
        argv = argv[2:]
    if len(argv) < 2 or argv[0].startswith("-"):
        print(__doc__.strip(), file=sys.stderr)
        return 64
    path, words = argv[0], argv[1:]
    commands = []
    for w in words:
        if w.lstrip().startswith("{"):
            if not commands or commands[-1][1] is not None:
                print(f"qmp: arguments {w} follow no command", file=sys.stderr)
                return 64
            try:
                commands[-1][1] = json.loads(w)
            except ValueError as e:
                print(f"qmp: arguments {w}: {e}", file=sys.stderr)
                return 64
        else:
            commands.append([w, None])
    try:
        qmp = QMP(path, timeout)
        try:
            for name, args in commands:
                ret = qmp.command(name, args)
                print(json.dumps(ret, sort_keys=True, separators=(",", ":")), flush=True)
        finally:
            qmp.close()
    except QMPError as e:
        print(f"qmp: {e}", file=sys.stderr)
        return 1
    except (OSError, ConnectionError, ValueError) as e:
        print(f"qmp: {path}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
