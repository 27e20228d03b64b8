"""vtlaunch: launch files (`launch.spec`, `launch.loader`), the supervisord config
(`launch.supervisor`), the foreground runner (`launch.cli`), live control of a running show
(`launch.control`), CURVE keys (`launch.keys`). See launch/README.md."""
