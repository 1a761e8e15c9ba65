#!/bin/bash
# TAP test: every Documentation/*.rst page parses with docutils without a warning (tables, titles, includes).
#
# One check, not one per page: each page is held to the same rule, so a page is not a check of
# its own; the pages that fail are listed as diagnostics.
# Run from the repository root; the Makefile installs it as $BUILD/tests/unit/docs_test.
set -uo pipefail
. tests/lib/tap.sh

out=$(python3 - Documentation/*.rst 2>&1 <<'PY'
import io
import sys
import docutils.core

for path in sys.argv[1:]:
    warnings = io.StringIO()
    with open(path, encoding="utf-8") as f:
        docutils.core.publish_string(f.read(), source_path=path, writer_name="null",
                                     settings_overrides={"report_level": 2, "halt_level": 5,
                                                         "warning_stream": warnings})
    print(warnings.getvalue(), end="")
PY
)
rc=$?
report $((rc != 0 || ${#out} != 0)) \
	"all $(echo Documentation/*.rst | wc -w) pages of Documentation/*.rst parse with docutils without a warning"
printf '%s' "$out" | diag
tap_done
