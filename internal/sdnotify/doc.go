// Package sdnotify tells systemd how a Type=notify service is doing: the
// sd_notify(3) protocol, one datagram of "KEY=value" lines to the unix
// socket named by $NOTIFY_SOCKET, in a few lines and without a library. It
// is outside the request flow: cmd/ferry calls it when listening, on
// reload and on drain.
package sdnotify
