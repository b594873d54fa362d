#!/usr/bin/env bash
# Usage: scripts/sftp-server.sh start|stop STATE_DIR [PORT USER PASSWORD]
#
# A private OpenSSH sshd (never the system one) serving SFTP for one account on
# 127.0.0.1:PORT. Its config, host key, client key, log and pidfile live in STATE_DIR;
# the pinned host key line is STATE_DIR/hostkey.pub and STATE_DIR/client_key logs in
# without a password. start creates the account (home /srv/intake-sftp/USER, with an
# inbox/) if missing and sets its password; start and stop are idempotent.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

usage() { die "usage: $0 start|stop STATE_DIR [PORT USER PASSWORD]"; }

(($# >= 2)) || usage
action=$1 state=$(state_dir "$2")
config=$state/sshd_config
pidfile=$state/sshd.pid

case $action in
  stop)
    stop_pidfile "$pidfile" "$config" 10
    exit 0
    ;;
  start) (($# == 5)) || usage ;;
  *) usage ;;
esac
port=$3 user=$4 password=$5

pid_alive "$pidfile" "$config" && exit 0

((EUID == 0)) || die "sftp-server.sh must run as root (it creates an account and runs sshd)"
[[ -x /usr/sbin/sshd ]] || die "/usr/sbin/sshd not found: run scripts/install.sh as root"
port_open 127.0.0.1 "$port" && die "port $port on 127.0.0.1 is already in use"

home=/srv/intake-sftp/$user
if ! id "$user" >/dev/null 2>&1; then
  mkdir -p /srv/intake-sftp
  useradd --create-home --home-dir "$home" --shell /usr/sbin/nologin "$user"
fi
printf '%s:%s\n' "$user" "$password" | chpasswd
group=$(id -gn "$user")
chmod 755 "$home" # sshd's StrictModes refuses keys under a group/world-writable home
install -d -o "$user" -g "$group" -m 755 "$home/inbox"
install -d -o "$user" -g "$group" -m 700 "$home/.ssh"

[[ -f $state/hostkey ]] || ssh-keygen -q -t ed25519 -N '' -C intake-sftp -f "$state/hostkey"
[[ -f $state/client_key ]] || ssh-keygen -q -t ed25519 -N '' -C intake-client -f "$state/client_key"
install -o "$user" -g "$group" -m 600 "$state/client_key.pub" "$home/.ssh/authorized_keys"

cat >"$config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $state/hostkey
PidFile $pidfile
AllowUsers $user
PermitRootLogin no
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication yes
UsePAM no
MaxSessions 100
MaxStartups 100:30:200
AllowTcpForwarding no
X11Forwarding no
PermitTTY no
Subsystem sftp internal-sftp
Match User $user
    ForceCommand internal-sftp
EOF

mkdir -p /run/sshd # privilege separation directory
/usr/sbin/sshd -f "$config" -E "$state/sshd.log" || {
  tail -n 20 "$state/sshd.log" >&2
  die "sshd did not start (config $config)"
}
sshd_up() { pid_alive "$pidfile" "$config" && port_open 127.0.0.1 "$port"; }
wait_until 15 "sshd on 127.0.0.1:$port" sshd_up || {
  tail -n 20 "$state/sshd.log" >&2
  exit 1
}
