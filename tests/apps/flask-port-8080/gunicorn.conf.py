# A port pinned in the config file, as many tutorials write it: gunicorn reads this file by default, and
# its `bind` wins over the PORT variable. Slipway must say so within seconds, naming the port.
bind = "0.0.0.0:8080"
workers = 1
