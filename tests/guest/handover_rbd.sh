#!/bin/bash
# Hand-overs with a guest outside a migration (QEMU 11): QMP stop suspends vbridge A with writes at a slowed OSD, A is killed, B breaks its lock, cont; every block right.
VBRIDGE_BACKEND=rbd VBRIDGE_HANDOVER=1 exec "$(dirname "$0")/restart_recovery.sh" "$@"
