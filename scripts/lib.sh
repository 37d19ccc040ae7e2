# Shared by the set-up scripts (sourced, not run).
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

apt_updated=0
# What the machine had installed by hand before the first set-up, for ./scripts/check-fresh
apt_baseline=/var/lib/eunomia/apt-manual-before-setup
if [ ! -f "$apt_baseline" ] && command -v apt-mark >/dev/null 2>&1; then
	"${sudo_cmd[@]}" mkdir -p "$(dirname "$apt_baseline")"
	apt-mark showmanual | "${sudo_cmd[@]}" tee "$apt_baseline" >/dev/null
fi
# apt_install WHY PACKAGE...: installs the packages, updating the lists once first.
apt_install() {
	local why=$1
	shift
	echo "setup: installing $* ($why)" >&2
	if [ "$apt_updated" -eq 0 ]; then
		"${sudo_cmd[@]}" apt-get update -qq
		apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "$@" >/dev/null
}

# missing_programs PROGRAM...: true when any of them is not on PATH (or in /usr/sbin).
missing_programs() {
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || return 0
	done
	return 1
}

# pip_install SPEC: this package, editable, in compat mode (a plain path in a .pth, no
# import hook to run at every start-up).
pip_install() {
	echo "setup: installing the eunomia Python package ($1)" >&2
	python3 -m pip --version >/dev/null 2>&1 || apt_install "pip for python3" python3-pip
	# Debian's own python3 marks itself externally managed (PEP 668): this machine is
	# set up for eunomia, so its packages go beside Debian's
	local system=()
	if python3 -c 'import sys, sysconfig, os; sys.exit(not os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")))'; then
		system=(--break-system-packages)
	fi
	python3 -m pip install -q --root-user-action=ignore --disable-pip-version-check \
		"${system[@]}" --config-settings editable_mode=compat -e "$1"
	# An editable install leaves out the Ctrl-C site hook that a wheel carries (setup.py)
	cp bin/00-eunomia-sigint.pth "$(python3 -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/"
}

# has_backports: a bookworm-backports source that is not commented out
has_backports() {
	grep -rqs '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/
}
