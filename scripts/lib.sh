# Shared by the scripts (sourced, not run). Everything here writes progress to stderr: a script's stdout is its result.

# apt_install PACKAGE...: installs Debian packages, as root or through sudo, quietly; says what on stderr.
apt_install() {
  echo "installing: $*" >&2
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >&2
}
