# The skiff node image: skiff plus the few Debian packages a node needs at run
# time (iptables and its libraries, libc, busybox, unshare, CA certificates),
# FROM scratch because no registry can be reached. Build it with
# scripts/image, which assembles build/image/rootfs first.
#
# Run a node (where Docker grants --privileged):
#   docker run -d --privileged --tmpfs /run --tmpfs /tmp skiff/node:dev server
# Where Docker cannot grant --privileged (a host without CAP_SYS_RESOURCE):
#   docker run -d --cap-add ALL --cap-drop SYS_RESOURCE \
#     --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
#     --security-opt systempaths=unconfined -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
#     --tmpfs /run --tmpfs /tmp skiff/node:dev server
#
# Cgroups: every node must have its own cgroup root, or the kubelets of two
# nodes on one host fight over /kubepods (cgroup v1 with the host's tree
# mounted shows every container the same tree). The entrypoint
# (scripts/image-entrypoint) re-execs itself in a new cgroup namespace
# (`unshare --cgroup`), in which the container's own cgroup (/docker/<id> on
# the host) is "/", and mounts every cgroup hierarchy afresh there, so
# /sys/fs/cgroup and /proc/self/cgroup agree: the kubelet, containerd and runc
# see the container's cgroup as the root and put /kubepods inside it
# (/docker/<id>/kubepods on the host). This is kind's cgroupns=private
# setup, made by the node itself so it also works with Docker's default
# cgroupns=host on cgroup v1, needs no skiff flag (no --kubelet-arg
# cgroup-root, no containerd cgroup parent) and changes nothing when skiff
# runs outside a container. On cgroup v2 it moves its processes to /init so
# the root can delegate controllers.
FROM scratch
COPY build/image/rootfs/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
VOLUME /var/lib/skiff
ENTRYPOINT ["/usr/local/bin/skiff-entrypoint"]
CMD ["server"]
