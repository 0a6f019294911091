#!/bin/sh
# nat-rules: the entrypoint of the reuseport-pod/nat helper image (scripts/build-nat-image.sh).
#
# A short-lived container runs it inside a DNAT pod's sandbox network namespace with NET_ADMIN and
# nothing else (the pattern of Istio's init container), so that neither the sandbox nor the replicas
# need any capability, and the host's firewall is never touched.
#
#   nat-rules apply   feeds $RULES to `iptables-restore --noflush`: the input declares the pod's own
#                     chains (RPOD-DNAT, RPOD-MASQ), which flushes just those chains and refills them
#                     in the same COMMIT, so a connection sees either the old or the new rule set.
#                     Docker's own nat rules (the embedded DNS on user-defined networks) stay as they
#                     are. Then hooks the chains into PREROUTING/POSTROUTING once.
#   nat-rules show    prints nothing but the rule set.
# Both print the pod's rules (iptables-save lines mentioning RPOD-) on stdout.
#   nat-rules accepts IP:PORT...  prints each IP:PORT that accepts a TCP connection from here
#                     (pause --accepts; needs no capability): the readiness probe for sandboxes
#                     whose own /pause predates --accepts.
set -eu
case "${1:-}" in
  apply)
    [ -n "${RULES:-}" ] || { echo "nat-rules: RULES is empty" >&2; exit 2; }
    printf '%s\n' "$RULES" | iptables-restore --noflush
    iptables -t nat -C PREROUTING -j RPOD-DNAT 2>/dev/null || iptables -t nat -I PREROUTING 1 -j RPOD-DNAT
    iptables -t nat -C POSTROUTING -j RPOD-MASQ 2>/dev/null || iptables -t nat -I POSTROUTING 1 -j RPOD-MASQ
    ;;
  show) ;;
  accepts)
    shift
    for target in "$@"; do
      if pause --accepts "${target%:*}" "${target##*:}" 2>/dev/null; then echo "$target"; fi
    done
    exit 0
    ;;
  *)
    echo "usage: nat-rules apply|show" >&2
    exit 2
    ;;
esac
iptables-save -t nat | grep -e 'RPOD-' | grep -v '^:' || true
