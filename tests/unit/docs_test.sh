#!/bin/bash
# TAP test: every Documentation/*.rst page parses with docutils without a warning (tables, titles, includes).
#
# Run from the repository root; the Makefile installs it as $BUILD/tests/unit/docs_test.
set -uo pipefail

pages=(Documentation/*.rst)
echo "1..${#pages[@]}"
n=0
for page in "${pages[@]}"; do
	n=$((n + 1))
	out=$(python3 - "$page" 2>&1 <<'PY'
import sys
import docutils.core

path = sys.argv[1]
with open(path, encoding="utf-8") as f:
    docutils.core.publish_string(f.read(), source_path=path, writer_name="null",
                                 settings_overrides={"report_level": 2, "halt_level": 5})
PY
	)
	if [ -z "$out" ]; then
		echo "ok $n - $page parses cleanly"
	else
		echo "not ok $n - $page parses cleanly"
		printf '%s\n' "$out" | sed 's/^/# /'
	fi
done
