#!/bin/sh
# skiff installer. As root, or as a user who may sudo:
#
#   curl -sfL https://github.com/skiff-k8s/skiff/releases/latest/download/install.sh | sh -
#   curl -sfL .../install.sh | sh -s - server --tls-san edge.example.com
#   curl -sfL .../install.sh | SKIFF_URL=https://<server>:6443 SKIFF_TOKEN=K10... sh -
#
# It installs the skiff binary (checked against the release's sha256 sums),
# the kubectl, crictl and ctr links, a systemd unit (or an OpenRC service),
# skiff-killall.sh and <service>-uninstall.sh, then starts the service. Run
# it again to upgrade or to change the settings: the service is restarted
# only when its binary, unit, environment file or airgap images changed,
# and is started if it is not running.
#
# Command: the arguments, after the words of INSTALL_SKIFF_EXEC, are
# skiff's: `server` or `agent` first (default: agent when SKIFF_URL is set,
# else server), then its flags. INSTALL_SKIFF_EXEC is split at white space;
# give an argument that holds spaces as a script argument instead.
#
# Settings (environment, all optional):
#   INSTALL_SKIFF_VERSION        release to download, e.g. v0.3.0 (default:
#                                the latest release)
#   INSTALL_SKIFF_DOWNLOAD_URL   where the release files are instead of the
#                                project's GitHub releases: a URL of a folder
#                                holding skiff (amd64) or skiff-arm64 and
#                                sha256sum-<arch>.txt
#   INSTALL_SKIFF_SKIP_DOWNLOAD  "true": use the binary already at
#                                $INSTALL_SKIFF_BIN_DIR/skiff (no checksum)
#   INSTALL_SKIFF_BIN            a skiff binary on this machine to install
#                                (airgap; also for development: bin/skiff);
#                                checked against a sha256sum-<arch>.txt that
#                                lies beside it, if there is one
#   INSTALL_SKIFF_AIRGAP_IMAGES  an image tarball (.tar, .tar.gz, .tgz,
#                                .tar.zst) to copy into <data-dir>/agent/images,
#                                where skiff imports it at start
#   INSTALL_SKIFF_BIN_DIR        default /usr/local/bin
#   INSTALL_SKIFF_EXEC           the command and flags, as described above
#   INSTALL_SKIFF_NAME           the service's name (default skiff for a
#                                server, skiff-agent for an agent); a name not
#                                starting with "skiff" gets a "skiff-" prefix
#   INSTALL_SKIFF_SKIP_ENABLE    "true": neither enable nor start the service
#   INSTALL_SKIFF_SKIP_START     "true": enable the service, don't start it
#   INSTALL_SKIFF_FORCE_RESTART  "true": restart it even if nothing changed
#   INSTALL_SKIFF_ARCH           amd64 or arm64 instead of what uname -m says
#   INSTALL_SKIFF_ROOT           tests only: install under this folder
#                                instead of /, and print the service commands
#                                instead of running them
#   SKIFF_URL, SKIFF_TOKEN       the server to join and its token; like every
#                                SKIFF_* variable (each sets the skiff flag of
#                                that name), CONTAINERD_* variable and proxy
#                                setting, they go into the service's
#                                environment file (mode 0600), never into its
#                                command line
#   SKIFF_TOKEN_FILE             a file holding the token, instead of
#                                SKIFF_TOKEN: an agent reads it at each start;
#                                for a server (which has no --token-file)
#                                its content goes into the environment file
#
# The data dir (for the airgap images, and for what the uninstall script
# removes) is --data-dir / -d from the command, else SKIFF_DATA_DIR, else
# data-dir in /etc/skiff/config.yaml, else /var/lib/skiff.
#
# Everything runs from main, called on the last line: a download cut short
# runs nothing.
set -eu
# INSTALL_SKIFF_EXEC is split at white space; nothing here is ever globbed.
set -f

RELEASES_URL=https://github.com/skiff-k8s/skiff/releases
DEFAULT_DATA_DIR=/var/lib/skiff

info() { echo "install.sh: $*"; }
warn() { echo "install.sh: warning: $*" >&2; }
fatal() {
	echo "install.sh: error: $*" >&2
	exit 1
}

# as_root runs a command as root: directly when this script is root (or
# installs under INSTALL_SKIFF_ROOT), else through sudo.
as_root() {
	if [ -n "$SUDO" ]; then
		sudo "$@"
	else
		"$@"
	fi
}

# Temporary files, removed on every exit: the download and the checksum file
# (next to the binary, so that the final mv is atomic) and the file put_file
# is writing.
TMP_BIN=
TMP_SUMS=
PUT_TMP=
cleanup() {
	for f in "$TMP_BIN" "$TMP_SUMS" "$PUT_TMP"; do
		if [ -n "$f" ]; then as_root rm -f "$f" || true; fi
	done
}

# --- settings ---------------------------------------------------------

# check_path NAME VALUE: the value is baked into the unit and the scripts
# this writes, so it must be an absolute path of plain characters.
check_path() {
	case $2 in
	/*) ;;
	*) fatal "$1 must be an absolute path, not '$2'" ;;
	esac
	case $2 in
	*[!A-Za-z0-9_./+-]* | */../* | */.. | /)
		fatal "$1=$2: use a path of letters, digits and . _ + - / only" ;;
	esac
}

# flag_value "NAMES" ARGS...: the value of the last of the flags NAMES (such
# as "--data-dir -d") in ARGS, written "--flag value" or "--flag=value".
flag_value() {
	names=$1
	shift
	value=
	while [ $# -gt 0 ]; do
		for n in $names; do
			case $1 in
			"$n") value=${2:-} ;;
			"$n"=*) value=${1#*=} ;;
			esac
		done
		shift
	done
	printf '%s' "$value"
}

# config_value FILE KEY: the value of a plain "key: value" line of skiff's
# config file (it may be readable by root only).
config_value() {
	as_root test -r "$ROOT$1" || return 0
	as_root sed -n "s/^$2:[[:space:]]*//p" "$ROOT$1" | tail -n 1 |
		sed "s/[[:space:]]*\$//; s/^\"\\(.*\\)\"\$/\\1/; s/^'\\(.*\\)'\$/\\1/"
}

# system_dir says whether a path is a folder of the system itself, which
# must never be skiff's data dir: the uninstall script removes that.
system_dir() {
	case $1 in
	/*/*/*) return 1 ;;
	/ | /bin | /boot | /dev | /etc | /home | /lib | /lib32 | /lib64 | /libx32 | /media | /mnt | /opt | \
		/proc | /root | /run | /sbin | /srv | /sys | /tmp | /usr | /var | /usr/* | /etc/* | /home/* | \
		/run/* | /proc/* | /sys/* | /dev/* | /var/lib | /var/log | /var/cache | /var/tmp | /var/spool | /var/mail)
		return 0 ;;
	esac
	return 1
}

# systemd_word renders one argument for a unit's ExecStart= line: quoted
# when it holds anything but plain characters, with systemd's escapes
# (\\ and \" inside quotes, %% for %, $$ for $).
systemd_word() {
	case $1 in
	'') printf '""' ;;
	*[!A-Za-z0-9_./:=,@+-]*)
		printf '"%s"' "$(printf '%s' "$1" | sed 's/[\\"]/\\&/g; s/%/%%/g; s/\$/$$/g')" ;;
	*) printf '%s' "$1" ;;
	esac
}

# sh_word renders one argument in shell quoting (for OpenRC's command_args).
sh_word() {
	case $1 in
	'') printf "''" ;;
	*[!A-Za-z0-9_./:=,@+-]*) printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")" ;;
	*) printf '%s' "$1" ;;
	esac
}

# dq_escape escapes text for the inside of a shell double-quoted string.
dq_escape() { printf '%s' "$1" | sed 's/[\\"`$]/\\&/g'; }

# The setup_* functions read the settings and the command into the globals
# the install steps use; they check everything they can before anything is
# written.

# setup_privileges: where to install, and whether through sudo.
setup_privileges() {
	ROOT=${INSTALL_SKIFF_ROOT:-}
	if [ -n "$ROOT" ]; then
		case $ROOT in /*) ;; *) fatal "INSTALL_SKIFF_ROOT must be an absolute path" ;; esac
		ROOT=${ROOT%/}
	fi
	SUDO=
	if [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then
		command -v sudo >/dev/null 2>&1 ||
			fatal "run this as root (sudo is not installed): curl -sfL <url>/install.sh | sh -"
		SUDO=sudo
	fi
}

# setup_command CMD: the command, server or agent (CMD_GIVEN says whether
# the first argument named it).
setup_command() {
	if [ -n "${INSTALL_SKIFF_URL:-}" ]; then
		fatal "INSTALL_SKIFF_URL is gone: set INSTALL_SKIFF_DOWNLOAD_URL to the folder holding skiff and sha256sum-<arch>.txt, or INSTALL_SKIFF_BIN to a local binary"
	fi

	case $1 in
	server | agent)
		CMD=$1
		CMD_GIVEN=true
		;;
	'' | -*)
		if [ -n "${SKIFF_URL:-}" ]; then CMD=agent; else CMD=server; fi
		CMD_GIVEN=false
		;;
	*) fatal "unknown command '$1': the command is server or agent (or leave it out), then skiff's flags" ;;
	esac
}

# setup_join ARGS...: the join settings an agent needs, and the arguments'
# sanity.
setup_join() {
	for a in "$@"; do
		case $a in *'
'*) fatal "an argument holds a line break: $a" ;;
		esac
	done

	case ${SKIFF_URL:-} in
	'' | https://*) ;;
	*) fatal "SKIFF_URL must be https://<server>:6443, not '$SKIFF_URL'" ;;
	esac
	if [ "$CMD" = agent ]; then
		[ -n "${SKIFF_URL:-}" ] || [ -n "$(flag_value "--server -s" "$@")" ] ||
			fatal "an agent needs SKIFF_URL=https://<server>:6443 (and SKIFF_TOKEN or SKIFF_TOKEN_FILE)"
		[ -n "${SKIFF_TOKEN:-}" ] || [ -n "${SKIFF_TOKEN_FILE:-}" ] || [ -n "$(flag_value "--token -t --token-file" "$@")" ] ||
			fatal "an agent needs SKIFF_TOKEN (or SKIFF_TOKEN_FILE): the server's token, from <data-dir>/server/token or skiff token create"
	fi
	if [ -n "${SKIFF_TOKEN:-}" ] && [ -n "${SKIFF_TOKEN_FILE:-}" ]; then
		fatal "set SKIFF_TOKEN or SKIFF_TOKEN_FILE, not both"
	fi
	if [ -n "${SKIFF_TOKEN_FILE:-}" ]; then
		case $SKIFF_TOKEN_FILE in /*) ;; *) fatal "SKIFF_TOKEN_FILE must be an absolute path" ;; esac
		as_root test -r "$ROOT$SKIFF_TOKEN_FILE" || fatal "SKIFF_TOKEN_FILE=$SKIFF_TOKEN_FILE cannot be read"
	fi
}

# setup_paths ARGS...: the service's command lines, the data dir, where the
# binary and the scripts go, and the service's name.
setup_paths() {
	EXEC_SYSTEMD=$CMD
	EXEC_SH=$CMD
	for a in "$@"; do
		EXEC_SYSTEMD="$EXEC_SYSTEMD $(systemd_word "$a")"
		EXEC_SH="$EXEC_SH $(sh_word "$a")"
	done

	config=$(flag_value "--config -c" "$@")
	[ -n "$config" ] || config=${SKIFF_CONFIG_FILE:-/etc/skiff/config.yaml}
	DATA_DIR=$(flag_value "--data-dir -d" "$@")
	[ -n "$DATA_DIR" ] || DATA_DIR=${SKIFF_DATA_DIR:-}
	[ -n "$DATA_DIR" ] || DATA_DIR=$(config_value "$config" data-dir)
	[ -n "$DATA_DIR" ] || DATA_DIR=$DEFAULT_DATA_DIR
	DATA_DIR=${DATA_DIR%/}
	check_path "the data dir" "$DATA_DIR"
	if system_dir "$DATA_DIR"; then
		fatal "the data dir $DATA_DIR is a folder of the system; skiff's uninstall removes its data dir: choose one of its own, such as /var/lib/skiff"
	fi

	BIN_DIR=${INSTALL_SKIFF_BIN_DIR:-/usr/local/bin}
	check_path INSTALL_SKIFF_BIN_DIR "$BIN_DIR"
	BIN_DIR=${BIN_DIR%/}
	BIN=$BIN_DIR/skiff

	# The service's name starts with "skiff": skiff killall stops the
	# systemd units named skiff*, and the scripts find the others so.
	NAME=${INSTALL_SKIFF_NAME:-}
	if [ -z "$NAME" ]; then
		if [ "$CMD" = agent ]; then NAME=skiff-agent; else NAME=skiff; fi
	fi
	case $NAME in skiff | skiff-*) ;; *) NAME=skiff-$NAME ;; esac
	case $NAME in *[!A-Za-z0-9_.-]*) fatal "INSTALL_SKIFF_NAME: use letters, digits and . _ - only, not '$NAME'" ;; esac
	KILLALL_SH=$BIN_DIR/skiff-killall.sh
	UNINSTALL_SH=$BIN_DIR/$NAME-uninstall.sh
}

# setup_service: the init system, and the service's files.
setup_service() {
	# The init system: systemd if it runs (or is at least installed),
	# else OpenRC; under INSTALL_SKIFF_ROOT, what the folder holds.
	if [ -n "$ROOT" ]; then
		if [ -x "$ROOT/sbin/openrc-run" ]; then INIT=openrc; else INIT=systemd; fi
	elif [ -d /run/systemd/system ]; then
		INIT=systemd
	elif [ -x /sbin/openrc-run ]; then
		INIT=openrc
	elif command -v systemctl >/dev/null 2>&1; then
		INIT=systemd
	else
		INIT=none
	fi
	case $INIT in
	systemd)
		SERVICE_FILE=/etc/systemd/system/$NAME.service
		ENV_FILE=/etc/systemd/system/$NAME.service.env
		;;
	openrc)
		SERVICE_FILE=/etc/init.d/$NAME
		ENV_FILE=/etc/skiff/$NAME.env
		;;
	none)
		SERVICE_FILE=
		ENV_FILE=
		;;
	esac

	# Re-running the installer on an agent without its settings would
	# install a server beside it, a second cluster: say what to pass.
	if [ "$CMD_GIVEN" = false ] && [ "$CMD" = server ] && [ -z "${INSTALL_SKIFF_NAME:-}" ] &&
		[ ! -e "$ROOT$SERVICE_FILE" ] &&
		{ [ -e "$ROOT/etc/systemd/system/skiff-agent.service" ] || [ -e "$ROOT/etc/init.d/skiff-agent" ]; }; then
		fatal "this machine runs a skiff agent (skiff-agent): to upgrade it, run the installer with its settings again (SKIFF_URL and SKIFF_TOKEN); to install a server beside it, say server"
	fi
}

# setup_download: which binary, from where; the airgap images.
setup_download() {
	ARCH=${INSTALL_SKIFF_ARCH:-$(uname -m)}
	case $ARCH in
	amd64 | x86_64)
		ARCH=amd64
		ASSET=skiff
		;;
	arm64 | aarch64)
		ARCH=arm64
		ASSET=skiff-arm64
		;;
	*) fatal "skiff is built for amd64 and arm64; this machine is $ARCH" ;;
	esac

	if [ -n "${INSTALL_SKIFF_DOWNLOAD_URL:-}" ]; then
		BASE_URL=${INSTALL_SKIFF_DOWNLOAD_URL%/}
	elif [ -n "${INSTALL_SKIFF_VERSION:-}" ]; then
		BASE_URL=$RELEASES_URL/download/$INSTALL_SKIFF_VERSION
	else
		BASE_URL=$RELEASES_URL/latest/download
	fi

	if [ -n "${INSTALL_SKIFF_AIRGAP_IMAGES:-}" ]; then
		[ -f "$INSTALL_SKIFF_AIRGAP_IMAGES" ] || fatal "INSTALL_SKIFF_AIRGAP_IMAGES=$INSTALL_SKIFF_AIRGAP_IMAGES is not a file"
		case $INSTALL_SKIFF_AIRGAP_IMAGES in
		*.tar | *.tar.gz | *.tgz | *.tar.zst) ;;
		*) fatal "INSTALL_SKIFF_AIRGAP_IMAGES=$INSTALL_SKIFF_AIRGAP_IMAGES: skiff imports .tar, .tar.gz, .tgz and .tar.zst image tarballs only" ;;
		esac
	fi

	# What changed in this run, for the restart decision.
	CHANGED=
}

# --- the binary -------------------------------------------------------

sha256_of() {
	if command -v sha256sum >/dev/null 2>&1; then
		as_root sha256sum "$1" | cut -d ' ' -f 1
	elif command -v shasum >/dev/null 2>&1; then
		as_root shasum -a 256 "$1" | cut -d ' ' -f 1
	else
		fatal "neither sha256sum nor shasum is installed: cannot check the download"
	fi
}

# expected_sha256 SUMS NAME: NAME's hash in a sha256sum file ("<hash>  NAME",
# also "*NAME" or "dir/NAME").
expected_sha256() {
	awk -v name="$2" '{ f = $2; sub(/^\*/, "", f); n = split(f, p, "/"); if (p[n] == name) { print $1; exit } }' "$1"
}

download() {
	url=$1
	dest=$2
	if command -v curl >/dev/null 2>&1; then
		as_root curl -fsSL --retry 3 -o "$dest" "$url"
	elif command -v wget >/dev/null 2>&1; then
		as_root wget -q -O "$dest" "$url"
	else
		fatal "neither curl nor wget is installed"
	fi
}

# install_binary puts the binary in place: fetched into a temporary file
# beside the target, checked, then moved over it in one rename, so a failed
# or refused download leaves an earlier install exactly as it was.
install_binary() {
	as_root mkdir -p "$ROOT$BIN_DIR"
	if [ "${INSTALL_SKIFF_SKIP_DOWNLOAD:-}" = true ]; then
		as_root test -x "$ROOT$BIN" ||
			fatal "INSTALL_SKIFF_SKIP_DOWNLOAD=true, but there is no executable skiff at $BIN"
		info "using $BIN as it is (INSTALL_SKIFF_SKIP_DOWNLOAD)"
		return
	fi

	expected=
	if [ -n "${INSTALL_SKIFF_BIN:-}" ]; then
		source=$INSTALL_SKIFF_BIN
		if [ ! -f "$source" ] || [ ! -x "$source" ]; then
			fatal "INSTALL_SKIFF_BIN=$source is not an executable file"
		fi
		sums=$(dirname "$source")/sha256sum-$ARCH.txt
		if [ -f "$sums" ]; then
			expected=$(expected_sha256 "$sums" "$(basename "$source")")
			[ -n "$expected" ] || fatal "$sums has no line for $(basename "$source")"
		elif as_root cmp -s "$source" "$ROOT$BIN"; then
			info "$BIN is already $source"
			return
		fi
	else
		source=$BASE_URL/$ASSET
		TMP_SUMS=$ROOT$BIN_DIR/.skiff-sha256sum.$$.tmp
		download "$BASE_URL/sha256sum-$ARCH.txt" "$TMP_SUMS" ||
			fatal "downloading $BASE_URL/sha256sum-$ARCH.txt failed: check INSTALL_SKIFF_VERSION or INSTALL_SKIFF_DOWNLOAD_URL and the network"
		expected=$(expected_sha256 "$TMP_SUMS" "$ASSET")
		[ -n "$expected" ] || fatal "$BASE_URL/sha256sum-$ARCH.txt has no line for $ASSET"
	fi
	if [ -n "$expected" ]; then
		case $expected in
		*[!0-9a-f]*) fatal "the checksum for $(basename "$source") is not a sha256 hash: $expected" ;;
		esac
		[ ${#expected} = 64 ] || fatal "the checksum for $(basename "$source") is not a sha256 hash: $expected"
		if as_root test -f "$ROOT$BIN" && [ "$(sha256_of "$ROOT$BIN")" = "$expected" ]; then
			info "$BIN is already that release (sha256 $expected)"
			return
		fi
	fi

	TMP_BIN=$ROOT$BIN_DIR/.skiff.$$.tmp
	if [ -n "${INSTALL_SKIFF_BIN:-}" ]; then
		as_root cp "$source" "$TMP_BIN" || fatal "copying $source to $BIN_DIR failed"
	else
		info "downloading $source"
		download "$source" "$TMP_BIN" || fatal "downloading $source failed"
	fi
	if [ -n "$expected" ]; then
		got=$(sha256_of "$TMP_BIN")
		[ "$got" = "$expected" ] ||
			fatal "refusing $source: its sha256 is $got, but the release's sha256sum-$ARCH.txt says $expected (a corrupted or tampered download); nothing was changed"
	fi
	as_root chmod 0755 "$TMP_BIN"
	version=$(as_root "$TMP_BIN" --version </dev/null 2>&1) ||
		fatal "the new binary does not run on this machine ($ARCH): $version"
	as_root mv -f "$TMP_BIN" "$ROOT$BIN" || fatal "moving the new binary to $BIN failed"
	TMP_BIN=
	CHANGED="$CHANGED binary"
	info "installed $BIN: $(printf '%s\n' "$version" | head -n 1)"
}

# install_links links kubectl, crictl and ctr to skiff (it answers to those
# names), never over a file that is not already such a link.
install_links() {
	for tool in kubectl crictl ctr; do
		link=$ROOT$BIN_DIR/$tool
		if [ -L "$link" ] && [ "$(readlink "$link")" = skiff ]; then
			continue
		elif [ -e "$link" ] || [ -L "$link" ]; then
			info "leaving $BIN_DIR/$tool alone: it is not skiff's"
		else
			as_root ln -s skiff "$link"
		fi
	done
}

# --- files ------------------------------------------------------------

# put_file DEST MODE CONTENT writes CONTENT (and a final newline) to DEST
# with MODE through a temporary file and a rename, and only when the content
# differs: WROTE says whether it did. The mode is set before any content is
# written (the environment file holds the token). CONTENT is an argument,
# not stdin: a function at the end of a pipeline would run in a subshell,
# and WROTE and the cleanup would be lost.
put_file() {
	dest=$ROOT$1
	# Unchanged: nothing is written, not even a temporary file.
	if as_root test -f "$dest" && printf '%s' "$3${3:+
}" | as_root cmp -s - "$dest"; then
		as_root chmod "$2" "$dest" || fatal "setting the mode of $1 failed"
		WROTE=false
		return
	fi
	as_root mkdir -p "$(dirname "$dest")" || fatal "creating the folder of $1 failed"
	PUT_TMP=$dest.$$.tmp
	as_root rm -f "$PUT_TMP"
	as_root touch "$PUT_TMP" || fatal "writing $1 failed"
	as_root chmod "$2" "$PUT_TMP" || fatal "writing $1 failed"
	if [ -n "$3" ]; then
		printf '%s\n' "$3" | as_root tee "$PUT_TMP" >/dev/null || fatal "writing $1 failed"
	fi
	as_root mv -f "$PUT_TMP" "$dest" || fatal "writing $1 failed"
	WROTE=true
	PUT_TMP=
}

# fill replaces the @NAME@ placeholders of a template on stdin. The values
# are checked paths and names: none holds a | or a sed metacharacter that
# matters here.
fill() {
	sed -e "s|@BIN_DIR@|$BIN_DIR|g" -e "s|@DATA_DIR@|$DATA_DIR|g" -e "s|@NAME@|$NAME|g" \
		-e "s|@SERVICE_FILE@|$SERVICE_FILE|g" -e "s|@ENV_FILE@|$ENV_FILE|g" \
		-e "s|@CMD@|$CMD|g"
}

killall_script() {
	fill <<'EOF'
#!/bin/sh
# skiff-killall.sh, written by skiff's install.sh: stops skiff's services,
# skiff, its containerd and every container under it, and removes what they
# left in the kernel: mounts, pod network namespaces, cni0 and its veths,
# the overlay device, and the SKIFF-, KUBE-, CNI- and FLANNEL- iptables
# chains (skiff's, its kube-proxy's and kubelet's, the CNI plugins'). The
# data dir stays: starting the service again brings every workload back.
#
# It refuses (exit 3) when another Kubernetes runs on this host: the KUBE-
# chains would be that one's too. SKIFF_DATA_DIR overrides the data dir.
set -eu

if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "skiff-killall.sh: run it as root" >&2; exit 1; }
	exec sudo env SKIFF_DATA_DIR="${SKIFF_DATA_DIR:-}" "$0" "$@"
fi
data_dir=${SKIFF_DATA_DIR:-@DATA_DIR@}

# other_kubernetes names a kubelet, kube-proxy or other Kubernetes
# distribution's process in this host's PID namespace (pods' processes,
# in namespaces of their own, don't count).
other_kubernetes() {
	self=$(readlink /proc/self/ns/pid)
	for dir in /proc/[0-9]*; do
		comm=$(cat "$dir/comm" 2>/dev/null) || continue
		case $comm in
		kubelet | kube-proxy | kube-apiserver | k3s | k3s-* | k0s | rke2 | kubelite | hyperkube) ;;
		*) continue ;;
		esac
		if [ "$(readlink "$dir/ns/pid" 2>/dev/null)" = "$self" ]; then
			echo "$comm, pid ${dir#/proc/}"
			return 0
		fi
	done
	return 1
}
if other=$(other_kubernetes); then
	echo "skiff-killall.sh: another Kubernetes runs here ($other): its iptables chains (KUBE-*) and pod mounts look like skiff's, so nothing was stopped or removed; stop it first" >&2
	exit 3
fi

# skiff killall stops the systemd units itself; OpenRC's are stopped here.
for svc in /etc/init.d/skiff*; do
	if [ -x "$svc" ]; then "$svc" stop || true; fi
done

status=0
if [ -x "@BIN_DIR@/skiff" ]; then
	"@BIN_DIR@/skiff" killall --data-dir "$data_dir" || status=$?
else
	echo "skiff-killall.sh: @BIN_DIR@/skiff is missing: removing only the links and iptables chains"
	if command -v systemctl >/dev/null 2>&1; then
		for unit in /etc/systemd/system/skiff*.service; do
			if [ -f "$unit" ]; then systemctl stop "${unit##*/}" || status=1; fi
		done
	fi
	if command -v ip >/dev/null 2>&1; then
		for link in cni0 skiff.vxlan; do
			if ip link show "$link" >/dev/null 2>&1; then ip link delete "$link" || status=1; fi
		done
	fi
fi

# What skiff killall could not remove: the chains, and every rule that
# names one, go in one iptables-restore per family (as k3s's script does).
for t in iptables ip6tables; do
	if ! command -v "$t-save" >/dev/null 2>&1 || ! command -v "$t-restore" >/dev/null 2>&1; then
		continue
	fi
	if "$t-save" 2>/dev/null | grep -qE '^:(SKIFF|KUBE|CNI|FLANNEL)-'; then
		echo "skiff-killall.sh: removing the chains left in $t"
		"$t-save" | grep -vE '(SKIFF|KUBE|CNI|FLANNEL)-' | "$t-restore" || status=1
	fi
done
exit "$status"
EOF
}

uninstall_script() {
	fill <<'EOF'
#!/bin/sh
# @NAME@-uninstall.sh, written by skiff's install.sh: stops skiff
# (skiff-killall.sh) and removes the @NAME@ service; when no other skiff
# service is installed, also the binary and its kubectl, crictl and ctr
# links, /etc/skiff, the data dir, /run/skiff, /var/lib/kubelet, the pod
# logs and the scripts. It unmounts what is mounted under those folders
# first and never removes through a mount it could not detach.
# SKIFF_DATA_DIR overrides the data dir.
set -eu

if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "@NAME@-uninstall.sh: run it as root" >&2; exit 1; }
	exec sudo env SKIFF_DATA_DIR="${SKIFF_DATA_DIR:-}" "$0" "$@"
fi
data_dir=${SKIFF_DATA_DIR:-@DATA_DIR@}
# Never a folder of the system (the installer refuses those too).
case $data_dir in
/*/*/*) ;;
/ | /bin | /boot | /dev | /etc | /home | /lib | /lib32 | /lib64 | /libx32 | /media | /mnt | /opt | \
	/proc | /root | /run | /sbin | /srv | /sys | /tmp | /usr | /var | /usr/* | /etc/* | /home/* | \
	/run/* | /proc/* | /sys/* | /dev/* | /var/lib | /var/log | /var/cache | /var/tmp | /var/spool | /var/mail)
	echo "@NAME@-uninstall.sh: refusing to remove the data dir $data_dir, a folder of the system" >&2
	exit 1
	;;
/?*) ;;
*)
	echo "@NAME@-uninstall.sh: refusing to remove the data dir '$data_dir': not an absolute path" >&2
	exit 1
	;;
esac
say() { echo "@NAME@-uninstall.sh: $*"; }

# status turns 1 when something could not be stopped or removed.
status=0
if [ -x "@BIN_DIR@/skiff-killall.sh" ]; then
	rc=0
	"@BIN_DIR@/skiff-killall.sh" || rc=$?
	case $rc in
	0) ;;
	3) exit 3 ;; # another Kubernetes runs here: it said so, nothing was touched
	*)
		say "warning: skiff-killall.sh did not finish (exit $rc); removing what can be removed"
		status=1
		;;
	esac
fi

if command -v systemctl >/dev/null 2>&1; then
	systemctl disable "@NAME@" >/dev/null 2>&1 || true
	systemctl reset-failed "@NAME@" >/dev/null 2>&1 || true
fi
if command -v rc-update >/dev/null 2>&1; then
	rc-update delete "@NAME@" default >/dev/null 2>&1 || true
fi
rm -rf "/etc/systemd/system/@NAME@.service" "/etc/systemd/system/@NAME@.service.env" \
	"/etc/systemd/system/@NAME@.service.d" "/etc/init.d/@NAME@" "/etc/logrotate.d/@NAME@" \
	"/var/log/@NAME@.log" "/run/@NAME@.pid"
if command -v systemctl >/dev/null 2>&1; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
say "removed the @NAME@ service"

others=
for f in /etc/systemd/system/skiff*.service /etc/init.d/skiff*; do
	if [ -e "$f" ]; then others="$others ${f##*/}"; fi
done
if [ -n "$others" ]; then
	say "skiff stays installed for$others (stopped by skiff-killall.sh: start it again, or run its uninstall script)"
	rm -f "@BIN_DIR@/@NAME@-uninstall.sh"
	exit 0
fi

for tool in kubectl crictl ctr; do
	if [ -L "@BIN_DIR@/$tool" ] && [ "$(readlink "@BIN_DIR@/$tool")" = skiff ]; then
		rm -f "@BIN_DIR@/$tool"
	fi
done

# mounts_under DIR: the mount points at or under DIR, deepest first.
mounts_under() {
	awk -v d="$1" '{ p = $5; gsub(/\\040/, " ", p); if (p == d || index(p, d "/") == 1) print p }' /proc/self/mountinfo | sort -r
}

# remove_tree DIR removes DIR after unmounting everything under it. A DIR
# that is itself a mount point (a disk of its own) is emptied, not removed.
remove_tree() {
	dir=$1
	[ -e "$dir" ] || [ -L "$dir" ] || return 0
	mounts_under "$dir" | while IFS= read -r m; do
		if [ "$m" != "$dir" ]; then umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; fi
	done
	left=$(mounts_under "$dir" | grep -vxF "$dir" | head -n 3 | tr '\n' ' ')
	if [ -n "$left" ]; then
		say "not removing $dir: still mounted there: $left"
		status=1
		return 0
	fi
	if mounts_under "$dir" | grep -qxF "$dir"; then
		find "$dir" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
		say "emptied $dir (a mount point of its own)"
	else
		rm -rf "$dir"
		say "removed $dir"
	fi
}

remove_tree /var/lib/kubelet
remove_tree "$data_dir"
remove_tree /run/skiff
remove_tree /etc/skiff
remove_tree /var/log/pods
remove_tree /var/log/containers
# The CNI library's cache of skiff's network; the folders only if that
# leaves them empty (another CNI user's files stay).
rm -f /var/lib/cni/results/skiff-*
rmdir /var/lib/cni/results /var/lib/cni 2>/dev/null || true

# What skiff's kubelet and containerd leave outside skiff's folders, at
# their upstream defaults. The pods' cgroups: systemd's kubepods slices,
# or the kubelet's own kubepods folders.
if command -v systemctl >/dev/null 2>&1; then systemctl stop kubepods.slice >/dev/null 2>&1 || true; fi
for d in /sys/fs/cgroup/kubepods /sys/fs/cgroup/kubepods.slice /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/*/kubepods.slice; do
	if [ -d "$d" ]; then find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true; fi
done
# runc's state of skiff's containers (containerd namespace k8s.io; Docker's
# are in moby) and the sockets of skiff's shims, now dead: a socket no
# process listens on is not in /proc/net/unix.
remove_tree /run/containerd/runc/k8s.io
for sock in /run/containerd/s/*; do
	if [ -S "$sock" ] && ! grep -q " $sock\$" /proc/net/unix; then rm -f "$sock"; fi
done
# Folders left empty, and those the kubelet (volume plugins) and
# containerd (its opt plugin) make empty: never one with something in it.
for d in /run/containerd /opt/containerd /usr/libexec/kubernetes; do
	if [ -d "$d" ]; then find "$d" -depth -type d -empty -exec rmdir {} \; 2>/dev/null || true; fi
done

rm -f "@BIN_DIR@/skiff" "@BIN_DIR@/skiff-killall.sh" "@BIN_DIR@/@NAME@-uninstall.sh"
if [ "$status" = 0 ]; then
	say "skiff is uninstalled"
else
	say "skiff is uninstalled, except what is named above"
fi
exit "$status"
EOF
}

install_scripts() {
	put_file "$KILLALL_SH" 0755 "$(killall_script)"
	put_file "$UNINSTALL_SH" 0755 "$(uninstall_script)"
}

# --- airgap images ----------------------------------------------------

install_airgap_images() {
	images=${INSTALL_SKIFF_AIRGAP_IMAGES:-}
	[ -n "$images" ] || return 0
	base=$(basename "$images")
	dest=$DATA_DIR/agent/images/$base
	# The data dir is skiff's alone: the folders are created private.
	(umask 077 && as_root mkdir -p "$ROOT$DATA_DIR/agent/images") ||
		fatal "creating $DATA_DIR/agent/images failed"
	if as_root cmp -s "$images" "$ROOT$dest"; then
		return
	fi
	PUT_TMP=$ROOT$dest.$$.tmp
	as_root cp "$images" "$PUT_TMP" || fatal "copying $images to $DATA_DIR/agent/images failed"
	as_root chmod 0600 "$PUT_TMP"
	as_root mv -f "$PUT_TMP" "$ROOT$dest" || fatal "copying $images to $DATA_DIR/agent/images failed"
	PUT_TMP=
	CHANGED="$CHANGED images"
	info "copied $images to $dest"
}

# --- the service ------------------------------------------------------

# env_lines FORMAT prints the service's environment: every SKIFF_* and
# CONTAINERD_* variable and the proxy settings, sorted (so an unchanged
# environment gives an unchanged file), as systemd's KEY="value" or, for
# OpenRC, shell's KEY='value'. A server gets SKIFF_TOKEN_FILE's content as
# SKIFF_TOKEN: only the agent has --token-file.
env_lines() {
	token_from_file=false
	if [ -n "${SKIFF_TOKEN_FILE:-}" ] && ! as_root "$ROOT$BIN" "$CMD" --help </dev/null 2>&1 | grep -q -- '--token-file'; then
		token_from_file=true
	fi
	names=$(env | sed -n -e 's/^\(SKIFF_[A-Za-z0-9_]*\)=.*/\1/p' -e 's/^\(CONTAINERD_[A-Za-z0-9_]*\)=.*/\1/p' \
		-e 's/^\([Hh][Tt][Tt][Pp][Ss]\{0,1\}_[Pp][Rr][Oo][Xx][Yy]\)=.*/\1/p' \
		-e 's/^\([Nn][Oo]_[Pp][Rr][Oo][Xx][Yy]\)=.*/\1/p' | LC_ALL=C sort -u)
	for name in $names; do
		eval "value=\${$name:-}"
		if [ "$name" = SKIFF_TOKEN_FILE ] && [ "$token_from_file" = true ]; then
			name=SKIFF_TOKEN
			value=$(as_root cat "$ROOT$SKIFF_TOKEN_FILE") || fatal "reading SKIFF_TOKEN_FILE failed"
		fi
		case $value in *'
'*) fatal "$name holds a line break: a service's environment cannot" ;;
		esac
		if [ "$1" = systemd ]; then
			printf '%s="%s"\n' "$name" "$(printf '%s' "$value" | sed 's/[\\"`$]/\\&/g')"
		else
			printf "%s='%s'\n" "$name" "$(printf '%s' "$value" | sed "s/'/'\\\\''/g")"
		fi
	done
}

# modprobe_path: modprobe where it is installed, so the service loads the
# modules skiff needs if they are modules here (nothing without it).
modprobe_path() {
	for p in /sbin/modprobe /usr/sbin/modprobe; do
		if [ -x "$ROOT$p" ]; then
			echo "$p"
			return
		fi
	done
}

systemd_unit() {
	role=$CMD
	modprobe=$(modprobe_path)
	cat <<EOF
# Written by skiff's install.sh; run it again to change the settings.
[Unit]
Description=skiff $role: lightweight Kubernetes
Documentation=https://github.com/skiff-k8s/skiff
Wants=network-online.target
After=network-online.target

[Install]
WantedBy=multi-user.target

[Service]
# skiff says READY=1 once its API answers (server) or its node is Ready
# (agent): systemctl start, and the installer, return then.
Type=notify
EnvironmentFile=-/etc/default/%N
EnvironmentFile=-/etc/sysconfig/%N
EnvironmentFile=-$ENV_FILE
# Stopping the service stops skiff only: containerd's shims and the pods
# keep running, and the next start adopts them (upgrades keep every pod).
KillMode=process
# The kubelet and containerd manage the cgroups below the unit's.
Delegate=yes
# Containers need many files and processes; no core limit for debugging.
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
# A first start extracts the runtime and may import airgap images: no limit.
TimeoutStartSec=0
Restart=always
RestartSec=5s
EOF
	if [ -n "$modprobe" ]; then
		cat <<EOF
ExecStartPre=-$modprobe br_netfilter
ExecStartPre=-$modprobe overlay
EOF
	fi
	printf 'ExecStart=%s %s\n' "$BIN" "$EXEC_SYSTEMD"
}

openrc_script() {
	modprobe=$(modprobe_path)
	cat <<EOF
#!/sbin/openrc-run
# shellcheck shell=sh disable=SC2034,SC1091 # OpenRC reads these variables; the env file is written apart
# Written by skiff's install.sh; run it again to change the settings.
description="skiff $CMD: lightweight Kubernetes"

# supervise-daemon restarts skiff whenever it exits (respawn_max=0: always).
supervisor=supervise-daemon
command="$BIN"
command_args="$(dq_escape "$EXEC_SH")"
pidfile="/run/$NAME.pid"
respawn_delay=5
respawn_max=0
output_log="/var/log/$NAME.log"
error_log="/var/log/$NAME.log"

depend() {
	after network-online
	want cgroups
}

start_pre() {
EOF
	if [ -n "$modprobe" ]; then
		printf '\t%s br_netfilter 2>/dev/null || true\n\t%s overlay 2>/dev/null || true\n' "$modprobe" "$modprobe"
	else
		printf '\ttrue\n'
	fi
	cat <<EOF
}

set -o allexport
if [ -f "$ENV_FILE" ]; then . "$ENV_FILE"; fi
set +o allexport
EOF
}

install_service() {
	case $INIT in
	systemd)
		content=$(env_lines systemd)
		put_file "$ENV_FILE" 0600 "$content"
		if [ "$WROTE" = true ]; then CHANGED="$CHANGED environment"; fi
		put_file "$SERVICE_FILE" 0644 "$(systemd_unit)"
		UNIT_WROTE=$WROTE
		if [ "$WROTE" = true ]; then CHANGED="$CHANGED unit"; fi
		;;
	openrc)
		content=$(env_lines sh)
		put_file "$ENV_FILE" 0600 "$content"
		if [ "$WROTE" = true ]; then CHANGED="$CHANGED environment"; fi
		put_file "$SERVICE_FILE" 0755 "$(openrc_script)"
		if [ "$WROTE" = true ]; then CHANGED="$CHANGED service"; fi
		put_file "/etc/logrotate.d/$NAME" 0644 "$(printf '/var/log/%s.log {\n\tmissingok\n\tnotifempty\n\tcopytruncate\n}' "$NAME")"
		;;
	none)
		warn "neither systemd nor OpenRC is here: start skiff yourself: $BIN $EXEC_SH"
		;;
	esac
}

# run_service CMD...: runs a service manager's command, or under
# INSTALL_SKIFF_ROOT prints it.
run_service() {
	if [ -n "$ROOT" ]; then
		info "INSTALL_SKIFF_ROOT: not running: $*"
		return 0
	fi
	as_root "$@"
}

# is_running: whether the service runs now (under INSTALL_SKIFF_ROOT it is
# taken to run).
is_running() {
	[ -z "$ROOT" ] || return 0
	case $INIT in
	systemd) as_root systemctl is-active --quiet "$NAME" ;;
	openrc) as_root rc-service "$NAME" status >/dev/null 2>&1 ;;
	*) return 1 ;;
	esac
}

# start_service enables the service and starts it: restarted when something
# changed, started when it is not running, left alone otherwise.
start_service() {
	[ "$INIT" != none ] || return 0
	if [ "$INIT" = systemd ] && [ "${UNIT_WROTE:-false}" = true ] && { [ -n "$ROOT" ] || [ -d /run/systemd/system ]; }; then
		run_service systemctl daemon-reload || fatal "systemctl daemon-reload failed"
	fi
	if [ "${INSTALL_SKIFF_SKIP_ENABLE:-}" = true ]; then
		info "not enabling or starting $NAME (INSTALL_SKIFF_SKIP_ENABLE)"
		return
	fi
	case $INIT in
	systemd) run_service systemctl enable --quiet "$NAME" || fatal "systemctl enable $NAME failed" ;;
	openrc) run_service rc-update add "$NAME" default || fatal "rc-update add $NAME failed" ;;
	esac
	if [ "${INSTALL_SKIFF_SKIP_START:-}" = true ]; then
		info "not starting $NAME (INSTALL_SKIFF_SKIP_START)"
		return
	fi
	if [ "$INIT" = systemd ] && [ -z "$ROOT" ] && [ ! -d /run/systemd/system ]; then
		info "systemd is not running here: $NAME starts at the next boot"
		return
	fi
	what=${CHANGED# }
	if [ -n "$what" ] || [ "${INSTALL_SKIFF_FORCE_RESTART:-}" = true ]; then
		if is_running; then verb=restart; else verb=start; fi
		info "${verb}ing $NAME (changed: ${what:-nothing, but INSTALL_SKIFF_FORCE_RESTART=true}); waiting until it is ready"
	elif ! is_running; then
		verb=start
		info "starting $NAME; waiting until it is ready"
	else
		info "nothing changed: $NAME keeps running"
		return
	fi
	case $INIT in
	systemd) run_service systemctl "$verb" "$NAME" || fatal "$NAME did not start: see journalctl -u $NAME" ;;
	openrc) run_service rc-service "$NAME" "$verb" || fatal "$NAME did not start: see /var/log/$NAME.log" ;;
	esac
	if [ "$CMD" = server ]; then
		info "$NAME is ready: kubectl get nodes (admin kubeconfig: /etc/skiff/skiff.yaml)"
	else
		info "$NAME is ready and joined ${SKIFF_URL:-the server}"
	fi
}

main() {
	if [ -n "${INSTALL_SKIFF_EXEC:-}" ]; then
		# shellcheck disable=SC2086 # split at white space on purpose; globbing is off
		set -- $INSTALL_SKIFF_EXEC "$@"
	fi
	setup_privileges
	setup_command "${1:-}"
	if [ "$CMD_GIVEN" = true ]; then shift; fi
	setup_join "$@"
	setup_paths "$@"
	setup_service
	setup_download
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	install_binary
	install_links
	install_scripts
	install_airgap_images
	install_service
	start_service
	info "uninstall with $UNINSTALL_SH"
}

main "$@"
