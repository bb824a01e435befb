# Sourced by the compose and Kubernetes tests: in_container runs a command inside a container.
#
# podman here now and then loses a command run inside a container: the exec is killed with 137,
# or podman itself fails (125) before the command starts. Such a failure is tried again, up to
# three times, so only commands that are safe to repeat may go through here; the command's own
# failures are returned at once, with its output. The caller defines log().
#
# Usage: in_container [--stdin TEXT] CONTAINER COMMAND...

in_container() {
    local input="" with_input="" attempt output status
    if [[ "$1" == --stdin ]]; then
        input=$2 with_input=1
        shift 2
    fi
    for attempt in 1 2 3; do
        status=0
        if [[ -n "$with_input" ]]; then
            output=$(printf '%s\n' "$input" | podman exec -i "$@" 2>&1) || status=$?
        else
            output=$(podman exec "$@" 2>&1 </dev/null) || status=$?
        fi
        case $status in
            125|137)
                log "podman exec in $1 failed with $status (attempt $attempt):" \
                    "$(printf '%s' "$output" | tail -c 300)"
                sleep 2 ;;
            *)
                printf '%s\n' "$output"
                return "$status" ;;
        esac
    done
    printf '%s\n' "$output"
    return "$status"
}
