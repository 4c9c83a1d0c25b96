FROM scratch
COPY busybox /bin/busybox
# Sleep forever, exit on TERM/INT; reaping is done by PID 1 semantics of sh.
ENTRYPOINT ["/bin/busybox", "sh", "-c", "trap 'exit 0' TERM INT; while :; do /bin/busybox sleep 3600 & wait $!; done"]
