# lockstep's .rpm: before erasing (not on upgrade), disable and stop the timers, as
# %systemd_preun does. The repository and the configuration stay (see postun.sh).
if [ "$1" -eq 0 ]; then
    systemctl --no-reload disable --now lockstep-backup.timer lockstep-drill.timer >/dev/null 2>&1 || :
fi
