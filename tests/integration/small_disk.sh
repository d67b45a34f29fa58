# Runs a chunkex program with one directory on a small tmpfs of its own, in a
# private mount namespace (as root):
#
#   small_disk.sh SIZE DIR COPY PROGRAM ARGS...
#
# mounts a SIZE tmpfs on DIR (seen only by PROGRAM), runs PROGRAM, then copies
# what DIR holds to COPY (the tmpfs goes with the namespace) and exits with
# PROGRAM's code. A TERM is passed on to PROGRAM. Exit 77 when the mount is
# refused (not root, no namespaces): the caller skips.
set -u
size=$1 dir=$2 copy=$3
shift 3
mount -t tmpfs -o "size=$size" chunkex-small-disk "$dir" 2>/dev/null || exit 77
"$@" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
rc=0
wait "$pid" || rc=$?
# A trapped TERM interrupts wait: wait again for the program itself.
while kill -0 "$pid" 2>/dev/null; do wait "$pid" || rc=$?; done
mkdir -p "$copy"
cp -a "$dir/." "$copy/"
exit "$rc"
