#!/bin/bash
# kill -9 recovery under a guest write/verify load, on packed virtqueues (QEMU packed=on).
VBRIDGE_RING=packed exec "$(dirname "$0")/restart_recovery.sh" "$@"
