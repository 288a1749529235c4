// Package sdnotify tells systemd that the service is ready (sd_notify's
// READY=1), so a unit of Type=notify is active only once skiff serves:
// `systemctl start skiff` returns when the API answers, and units ordered
// after it start against a working cluster.
package sdnotify
