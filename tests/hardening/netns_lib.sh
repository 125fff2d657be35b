# Network namespaces for the hardening scripts; sourced after
# ../relay/lib.sh. `netns_new NAME...` makes each namespace (lo up); the
# first failure to make one skips the script when GOSSIP_SKIP_NETNS=1, else
# fails it. At exit, what runs in the namespaces is ended and they are
# deleted, then lib.sh's cleanup runs.
command -v ip >/dev/null || fail "ip (iproute2) is not installed"
NSES=()
netns_cleanup() {
    local n
    for n in "${NSES[@]}"; do
        # what runs in our namespaces is ours: end it before the namespace
        ip netns pids "$n" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
        ip netns del "$n" 2>/dev/null || true
    done
}
trap 'rc=$?; set +e; netns_cleanup; cleanup "$rc"' EXIT

netns_new() {
    local n
    for n in "$@"; do
        if ! ip netns add "$n" 2>netns.log; then
            if [ "${#NSES[@]}" = 0 ] && [ "${GOSSIP_SKIP_NETNS:-}" = 1 ]; then
                echo "skipped: cannot make network namespaces ($(cat netns.log)); GOSSIP_SKIP_NETNS=1"
                exit 0
            fi
            fail "cannot make a network namespace: $(cat netns.log) (set GOSSIP_SKIP_NETNS=1 to skip)"
        fi
        NSES+=("$n")
        ip -n "$n" link set lo up
    done
}
