#!/bin/bash
# The libvirt domain XML in Documentation/migration.rst validates against libvirt's schema.
#
# Run from the repository root; the Makefile installs it as $BUILD/tests/unit/migration_doc_test.
set -uo pipefail
. tests/lib/tap.sh

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The literal block from "<domain" to "</domain>", its indentation removed.
awk '/^ *<domain / { on = 1; n = match($0, /[^ ]/) - 1 } on { print substr($0, n + 1) } /^ *<\/domain>/ { on = 0 }' \
	Documentation/migration.rst >"$tmp/domain.xml"
if ! command -v virt-xml-validate >/dev/null; then
	report 1 "virt-xml-validate is installed (libvirt-clients, make deps)"
else
	virt-xml-validate "$tmp/domain.xml" domain >"$tmp/out" 2>&1
	rc=$?
	diag "$tmp/out"
	report "$rc" "the domain XML in Documentation/migration.rst ($(wc -l <"$tmp/domain.xml") lines) validates with virt-xml-validate"
fi
tap_done
