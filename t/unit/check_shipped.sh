#!/bin/bash
# check_shipped.sh - lint what outpost ships besides code: the manual pages
# must format without a single groff warning (groff -ww), and the systemd
# units (outpostd, outpost-notify) must pass `systemd-analyze verify` (their
# binary paths pointed at this build, since nothing is installed yet).
# Both tools are installed by t/run; a missing tool is a failure, never a
# skip.
set -u
top=${T_TOP:?run through make check}
fail=0

command -v groff >/dev/null || { echo "FAIL: groff not installed (groff-base)"; exit 1; }
for page in "$top"/man/*.[0-9]; do
    warn=$(groff -ww -man -z "$page" 2>&1)
    if [ -n "$warn" ]; then
        echo "FAIL: groff -ww $page:"; echo "$warn"; fail=1
    else
        echo "ok: groff -ww $(basename "$page")"
    fi
done

command -v systemd-analyze >/dev/null \
    || { echo "FAIL: systemd-analyze not installed (systemd)"; exit 1; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
sed "s|/usr/local/sbin/outpostd|${OUTPOSTD:?}|g" "$top/contrib/outpostd.service" \
    >"$tmp/outpostd.service"
# a unit file with an error: proves that verify reports what we look for
printf '[Service]\nExecStart=relative/path\nType=nonsense\n' >"$tmp/broken.service"
out=$(systemd-analyze verify "$tmp/broken.service" 2>&1)
if ! echo "$out" | grep -q 'broken.service'; then
    echo "FAIL: systemd-analyze verify does not report a broken unit here:"; echo "$out"
    fail=1
fi
# Documentation= names our pages, which are not installed yet: verify looks
# them up with man(1) (man-db, installed by t/run), so MANPATH points at
# this source's pages first.
mkdir -p "$tmp/man/man5" "$tmp/man/man8"
for page in "$top"/man/*.5; do ln -s "$page" "$tmp/man/man5/"; done
for page in "$top"/man/*.8; do ln -s "$page" "$tmp/man/man8/"; done
command -v man >/dev/null || { echo "FAIL: man not installed (man-db)"; exit 1; }
out=$(MANPATH="$tmp/man:" systemd-analyze verify "$tmp/outpostd.service" 2>&1); rc=$?
if [ $rc != 0 ] || echo "$out" | grep -q 'outpostd.service'; then
    echo "FAIL: systemd-analyze verify contrib/outpostd.service (exit $rc):"; echo "$out"
    fail=1
else
    echo "ok: systemd-analyze verify outpostd.service"
fi

# The notifier's unit (its Documentation= names outpost-notify(8)).
sed "s|/usr/local/sbin/outpost-notify|${OUTPOST_NOTIFY:?}|g" \
    "$top/contrib/outpost-notify.service" >"$tmp/outpost-notify.service"
out=$(MANPATH="$tmp/man:" systemd-analyze verify "$tmp/outpost-notify.service" 2>&1); rc=$?
if [ $rc != 0 ] || echo "$out" | grep -q 'outpost-notify.service'; then
    echo "FAIL: systemd-analyze verify contrib/outpost-notify.service (exit $rc):"; echo "$out"
    fail=1
else
    echo "ok: systemd-analyze verify outpost-notify.service"
fi
exit $fail
