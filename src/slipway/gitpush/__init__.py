"""`git push slipway main`: SSH keys, per-app bare repositories on the Slipway host, and the gateway that
sshd runs for a pushing key (Dokku/Piku style: a forced command in authorized_keys)."""
