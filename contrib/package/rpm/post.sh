# lockstep's .rpm: after installation. /var/lib/lockstep holds the default repository
# (/var/lib/lockstep/repo) and lockstep's state (the restore journal, guard logs): root's only.
# An existing directory is left as the administrator has it. (Created here rather than owned by
# the package: cargo-generate-rpm 0.21.1's `dir = true` assets fail with "No such file or
# directory"; an unowned directory is also one rpm never removes.) The units are installed, not
# enabled: nothing is scheduled until `systemctl enable --now lockstep-backup.timer`.
if [ ! -d /var/lib/lockstep ]; then
    mkdir -m 0700 /var/lib/lockstep
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
