#!/bin/bash
# kill -9 recovery under a guest write/verify load on an RBD image, each restarted daemon breaking the killed one's lock.
VBRIDGE_BACKEND=rbd exec "$(dirname "$0")/restart_recovery.sh" "$@"
