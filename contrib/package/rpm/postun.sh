# lockstep's .rpm: after erasing or upgrading. rpm never deletes a repository: /var/lib/lockstep
# is not the package's, and an edited /etc/lockstep/lockstep.toml is kept as
# lockstep.toml.rpmsave.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
