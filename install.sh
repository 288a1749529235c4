#!/bin/sh
# skiff installer:  curl -sfL <url>/install.sh | sh -s - [server|agent] [flags]
#
# Installs the skiff binary, the kubectl/crictl/ctr links, a systemd (or
# OpenRC) service, and skiff-killall.sh / skiff-uninstall.sh, then starts the
# service. Settings, all optional:
#   INSTALL_SKIFF_BIN            a skiff binary already on this machine (airgap)
#   INSTALL_SKIFF_URL            where to download the binary from otherwise
#   INSTALL_SKIFF_BIN_DIR        default /usr/local/bin
#   INSTALL_SKIFF_SKIP_START     "true": install, but don't start the service
#   INSTALL_SKIFF_ROOT           install under this folder instead of / (tests)
#   SKIFF_URL                    a server to join: installs an agent (as k3s
#                                does with K3S_URL); passed to the service
#   SKIFF_TOKEN                  passed to the service
set -eu

fatal() { echo "install.sh: $*" >&2; exit 1; }
info() { echo "install.sh: $*"; }

ROOT=${INSTALL_SKIFF_ROOT:-}
BIN_DIR=${INSTALL_SKIFF_BIN_DIR:-/usr/local/bin}
# With SKIFF_URL set and no command named, this machine joins as an agent.
DEFAULT_CMD=server
[ -n "${SKIFF_URL:-}" ] && DEFAULT_CMD=agent
CMD=${1:-$DEFAULT_CMD}
case "$CMD" in
	server | agent) [ $# -gt 0 ] && shift ;;
	-*) CMD=$DEFAULT_CMD ;;
	*) fatal "unknown command '$CMD': use server or agent" ;;
esac
[ "$CMD" = agent ] && [ -z "${SKIFF_URL:-}" ] && fatal "an agent needs SKIFF_URL=https://<server>:6443 (and SKIFF_TOKEN)"

[ -n "$ROOT" ] || [ "$(id -u)" = 0 ] || fatal "run as root (curl ... | sudo sh -)"

install_binary() {
	mkdir -p "$ROOT$BIN_DIR"
	tmp="$ROOT$BIN_DIR/.skiff.tmp.$$"
	if [ -n "${INSTALL_SKIFF_BIN:-}" ]; then
		[ -x "$INSTALL_SKIFF_BIN" ] || fatal "INSTALL_SKIFF_BIN=$INSTALL_SKIFF_BIN is not an executable file"
		cp "$INSTALL_SKIFF_BIN" "$tmp"
	elif [ -n "${INSTALL_SKIFF_URL:-}" ]; then
		if command -v curl >/dev/null; then
			curl -sfL "$INSTALL_SKIFF_URL" -o "$tmp" || fatal "downloading $INSTALL_SKIFF_URL failed"
		elif command -v wget >/dev/null; then
			wget -qO "$tmp" "$INSTALL_SKIFF_URL" || fatal "downloading $INSTALL_SKIFF_URL failed"
		else
			fatal "neither curl nor wget is installed"
		fi
	else
		fatal "set INSTALL_SKIFF_BIN to a skiff binary, or INSTALL_SKIFF_URL to download one"
	fi
	chmod 0755 "$tmp"
	"$tmp" --version >/dev/null 2>&1 || { rm -f "$tmp"; fatal "the binary does not run on this machine"; }
	mv -f "$tmp" "$ROOT$BIN_DIR/skiff"
	info "installed $BIN_DIR/skiff ($("$ROOT$BIN_DIR/skiff" --version))"
	for tool in kubectl crictl ctr; do
		if [ -e "$ROOT$BIN_DIR/$tool" ] && [ ! -L "$ROOT$BIN_DIR/$tool" ]; then
			info "leaving the existing $BIN_DIR/$tool alone"
		else
			ln -sf skiff "$ROOT$BIN_DIR/$tool"
		fi
	done
}

# quote_args renders the remaining arguments for a unit's ExecStart line.
quote_args() {
	for a in "$@"; do printf " '%s'" "$(printf '%s' "$a" | sed "s/'/'\\\\''/g")"; done
}

install_scripts() {
	cat > "$ROOT$BIN_DIR/skiff-killall.sh" <<KILLALL
#!/bin/sh
# Stops skiff and every container it started; keeps the data.
[ "\$(id -u)" = 0 ] || exec sudo "\$0" "\$@"
command -v systemctl >/dev/null && systemctl stop skiff 2>/dev/null
exec $BIN_DIR/skiff killall "\$@"
KILLALL
	cat > "$ROOT$BIN_DIR/skiff-uninstall.sh" <<UNINSTALL
#!/bin/sh
# Removes skiff from this machine, data included.
set -e
[ "\$(id -u)" = 0 ] || exec sudo "\$0" "\$@"
$BIN_DIR/skiff-killall.sh || true
if command -v systemctl >/dev/null; then
	systemctl disable skiff 2>/dev/null || true
	rm -f /etc/systemd/system/skiff.service /etc/systemd/system/skiff.service.env
	systemctl daemon-reload 2>/dev/null || true
fi
rm -f /etc/init.d/skiff
for tool in kubectl crictl ctr; do [ -L $BIN_DIR/\$tool ] && rm -f $BIN_DIR/\$tool; done
rm -rf /var/lib/skiff /etc/skiff /run/skiff /var/lib/kubelet
rm -f $BIN_DIR/skiff $BIN_DIR/skiff-killall.sh $BIN_DIR/skiff-uninstall.sh
echo "skiff is uninstalled"
UNINSTALL
	chmod 0755 "$ROOT$BIN_DIR/skiff-killall.sh" "$ROOT$BIN_DIR/skiff-uninstall.sh"
}

# write_env FILE FORMAT writes the join settings the service needs
# (SKIFF_URL, SKIFF_TOKEN: the token is a secret, so the file is 0600), one
# printf FORMAT line (name, value) for each that is set.
write_env() {
	umask 077
	: > "$1"
	for name in SKIFF_URL SKIFF_TOKEN; do
		eval "value=\${$name:-}"
		if [ -n "$value" ]; then
			# shellcheck disable=SC2059 # the format is the caller's
			printf "$2" "$name" "$value" >> "$1"
		fi
	done
	umask 022
}

install_service() {
	args="$CMD$(quote_args "$@")"
	if [ -d "$ROOT/run/systemd/system" ] || [ -n "$ROOT" ] || command -v systemctl >/dev/null; then
		mkdir -p "$ROOT/etc/systemd/system"
		write_env "$ROOT/etc/systemd/system/skiff.service.env" '%s=%s\n'
		# KillMode=process: stopping the service stops skiff only, so the
		# containers keep running and the next start adopts them.
		cat > "$ROOT/etc/systemd/system/skiff.service" <<UNIT
[Unit]
Description=skiff: lightweight Kubernetes
Documentation=https://github.com/skiff-k8s/skiff
Wants=network-online.target
After=network-online.target

[Service]
Type=exec
EnvironmentFile=-/etc/systemd/system/skiff.service.env
ExecStartPre=-/sbin/modprobe br_netfilter
ExecStartPre=-/sbin/modprobe overlay
ExecStart=$BIN_DIR/skiff $args
KillMode=process
Delegate=yes
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
TimeoutStartSec=0
Restart=always
RestartSec=5s

[Install]
WantedBy=multi-user.target
UNIT
		info "wrote /etc/systemd/system/skiff.service ($args)"
		SERVICE=systemd
	elif command -v openrc-run >/dev/null || [ -x /sbin/openrc-run ]; then
		cat > "$ROOT/etc/init.d/skiff" <<RC
#!/sbin/openrc-run
description="skiff: lightweight Kubernetes"
command="$BIN_DIR/skiff"
command_args="$args"
command_background=true
pidfile="/run/skiff.pid"
output_log="/var/log/skiff.log"
error_log="/var/log/skiff.log"
depend() { need net; }
RC
		chmod 0755 "$ROOT/etc/init.d/skiff"
		mkdir -p "$ROOT/etc/conf.d"
		write_env "$ROOT/etc/conf.d/skiff" "export %s='%s'\n"
		info "wrote /etc/init.d/skiff ($args)"
		SERVICE=openrc
	else
		SERVICE=none
		info "no systemd or OpenRC here: start skiff yourself with: $BIN_DIR/skiff $args"
	fi
}

start_service() {
	if [ "${INSTALL_SKIFF_SKIP_START:-}" = true ] || [ -n "$ROOT" ]; then
		info "not starting the service (INSTALL_SKIFF_SKIP_START)"
		return
	fi
	case $SERVICE in
	systemd) systemctl daemon-reload && systemctl enable --now skiff ;;
	openrc) rc-update add skiff default && rc-service skiff restart ;;
	esac
	info "started; the admin kubeconfig is /etc/skiff/skiff.yaml (try: kubectl get nodes)"
}

install_binary
install_scripts
install_service "$@"
start_service
